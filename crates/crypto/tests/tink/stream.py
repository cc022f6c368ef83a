#!/usr/bin/env python3
"""Tink's own AES-GCM-HKDF streaming AEAD (PyPI `tink`), for the tests that
check our streams against an independent implementation.

    stream.py encrypt|decrypt KEY_HEX AAD_HEX SEGMENT_SIZE < input > output

Exit status 1 with a message on stderr when Tink refuses the input.
"""
import io
import sys

import tink
from tink import secret_key_access, streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"


def primitive(key, segment_size):
    key_proto = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0,
        key_value=key,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            ciphertext_segment_size=segment_size,
            derived_key_size=32,
            hkdf_hash_type=common_pb2.SHA256,
        ),
    )
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url=TYPE_URL,
                    value=key_proto.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    handle = tink.proto_keyset_format.parse(
        keyset.SerializeToString(), secret_key_access.TOKEN
    )
    return handle.primitive(streaming_aead.StreamingAead)


def main():
    mode, key_hex, aad_hex, segment_size = sys.argv[1:5]
    streaming_aead.register()
    aead = primitive(bytes.fromhex(key_hex), int(segment_size))
    aad = bytes.fromhex(aad_hex)
    data = sys.stdin.buffer.read()
    if mode == "encrypt":
        out = io.BytesIO()
        close = out.close
        out.close = lambda: None  # Tink closes its destination when done.
        with aead.new_encrypting_stream(out, aad) as stream:
            stream.write(data)
        result = out.getvalue()
        close()
    else:
        with aead.new_decrypting_stream(io.BytesIO(data), aad) as stream:
            result = stream.read()
    sys.stdout.buffer.write(result)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    try:
        main()
    except tink.TinkError as error:
        sys.stderr.write(f"tink refused: {error}\n")
        sys.exit(1)
