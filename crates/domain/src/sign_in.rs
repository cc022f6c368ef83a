//! Where a sign-in came from, as far as noticing a new one goes (P14): the
//! device (the browser or app, without version numbers, so an update is
//! not a new device) and the network (the /24 of an IPv4 address, the /48
//! of an IPv6 one, so a new address from the same provider is not a new
//! network). An account's sign-in from a device or a network it has not
//! used before produces a notice to the account's holder.

use std::net::IpAddr;

/// The longest device description kept, in characters.
pub const MAX_DEVICE_CHARS: usize = 200;

/// How long a sign-in notice (an address and a user agent) is kept, in
/// days: as long as the `login.new_source` audit entry beside it.
pub const NOTICE_RETENTION_DAYS: u32 = 90;

/// A sign-in's device and network. `Debug` shows neither (an address and a
/// user agent are personal data).
#[derive(Clone, PartialEq, Eq)]
pub struct SignInSource {
    device: String,
    network: Option<String>,
}

impl std::fmt::Debug for SignInSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInSource(..)")
    }
}

/// What was new about a sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Novelty {
    /// The device was not seen before for the account.
    pub device: bool,
    /// The network was not seen before for the account.
    pub network: bool,
}

impl Novelty {
    /// Whether the account's holder should hear of the sign-in: something
    /// was new, and the account had signed in before (its first sign-in
    /// is expected, not news).
    pub fn deserves_notice(self, signed_in_before: bool) -> bool {
        signed_in_before && (self.device || self.network)
    }
}

impl SignInSource {
    /// The source of a sign-in with this `User-Agent` from this address.
    pub fn of(user_agent: Option<&str>, address: Option<IpAddr>) -> Self {
        let device = user_agent
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit() && !c.is_control())
            .flat_map(char::to_lowercase)
            .collect::<String>();
        // "firefox/." and "firefox/" are one device.
        let device: String = device
            .split(|c: char| c.is_whitespace())
            .map(|word| word.trim_end_matches(['.', '_']))
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(MAX_DEVICE_CHARS)
            .collect();
        let network = address.map(|address| match address {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => {
                    let [a, b, c, _] = v4.octets();
                    format!("{a}.{b}.{c}.0/24")
                }
                None => {
                    let [a, b, c, ..] = v6.segments();
                    format!("{a:x}:{b:x}:{c:x}::/48")
                }
            },
        });
        Self { device, network }
    }

    /// The device, without version numbers (empty when the client sent no
    /// `User-Agent`).
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The network, when the address is known.
    pub fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p14_a_browser_update_is_the_same_device_and_another_browser_is_not() {
        let old = SignInSource::of(
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Firefox/132.0"),
            None,
        );
        let new = SignInSource::of(
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0"),
            None,
        );
        let other = SignInSource::of(
            Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"),
            None,
        );
        assert_eq!(old.device(), new.device());
        assert_ne!(old.device(), other.device());
        assert_eq!(SignInSource::of(None, None).device(), "");
        let long = "x".repeat(1_000);
        assert_eq!(
            SignInSource::of(Some(&long), None).device().chars().count(),
            MAX_DEVICE_CHARS
        );
    }

    #[test]
    fn p14_a_network_is_the_ipv4_slash_24_or_the_ipv6_slash_48() {
        let net = |a: &str| {
            SignInSource::of(None, Some(a.parse().unwrap()))
                .network()
                .map(str::to_owned)
        };
        assert_eq!(net("203.0.113.7"), Some("203.0.113.0/24".to_owned()));
        assert_eq!(net("203.0.113.200"), net("203.0.113.7"));
        assert_ne!(net("203.0.114.7"), net("203.0.113.7"));
        assert_eq!(net("::ffff:203.0.113.9"), net("203.0.113.7"), "IPv4-mapped");
        assert_eq!(net("2001:db8:1:2::1"), Some("2001:db8:1::/48".to_owned()));
        assert_eq!(net("2001:db8:1:ffff::9"), net("2001:db8:1:2::1"));
        assert_eq!(SignInSource::of(None, None).network(), None);
    }

    #[test]
    fn p14_only_a_new_source_of_an_account_that_signed_in_before_deserves_a_notice() {
        let new = Novelty {
            device: true,
            network: false,
        };
        assert!(new.deserves_notice(true));
        assert!(!new.deserves_notice(false), "the first sign-in is expected");
        let known = Novelty {
            device: false,
            network: false,
        };
        assert!(!known.deserves_notice(true));
        assert!(
            Novelty {
                device: false,
                network: true
            }
            .deserves_notice(true)
        );
    }

    #[test]
    fn p14_debug_shows_neither_device_nor_network() {
        let source = SignInSource::of(Some("SecretAgent/1"), Some("198.51.100.4".parse().unwrap()));
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("secretagent") && !shown.contains("198.51"),
            "{shown}"
        );
    }
}
