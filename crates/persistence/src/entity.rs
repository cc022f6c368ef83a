//! sea-orm entities, one per table. Crate-private: nothing outside this
//! crate reaches a table except through a tenant-bound scope.

#![allow(
    missing_docs,
    unreachable_pub,
    reason = "generated items of crate-private entities; columns mirror the documented SQL schema"
)]

macro_rules! entity {
    ($module:ident, $table:literal, { $($body:tt)* }) => {
        pub(crate) mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($body)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(tenant_directory, "tenant_directory", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub slug: String,
    pub region: String,
    pub created_at_us: i64,
    pub erasing_since_us: Option<i64>,
    pub erased_at_us: Option<i64>,
});

entity!(tenant_erasures, "tenant_erasures", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub via: String,
    pub requested_at_us: i64,
    pub key_destroyed_at_us: Option<i64>,
    pub completed_at_us: Option<i64>,
    pub rows_deleted: i64,
});

entity!(tenants, "tenants", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan: String,
    pub status: String,
    pub time_zone: String,
    pub region: String,
    pub created_at_us: i64,
    pub calendar_fail_policy: String,
    pub legal_hold: bool,
    pub erasing_since_us: Option<i64>,
});

entity!(tenant_keys, "tenant_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub master_version: i32,
    pub wrapped: Vec<u8>,
    pub updated_at_us: i64,
});

entity!(staff, "staff", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub staff_id: Uuid,
    pub name: String,
    pub user_id: Option<Uuid>,
});

entity!(customers, "customers", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub created_at_us: i64,
    pub erased_at_us: Option<i64>,
});

entity!(services, "services", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub service_id: Uuid,
    pub name: String,
    pub duration_min: i64,
    pub buffer_before_min: i64,
    pub buffer_after_min: i64,
    pub notice_min: i64,
    pub horizon_days: i64,
    pub step_min: i64,
    pub capacity: i64,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub public: bool,
    pub intake: String,
});

entity!(service_staff, "service_staff", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub service_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub staff_id: Uuid,
    pub position: i64,
});

entity!(schedules, "schedules", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub schedule_id: Uuid,
    pub staff_id: Uuid,
    pub time_zone: String,
    pub weekly: String,
    pub overrides: String,
    pub time_off: String,
});

entity!(holds, "holds", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hold_id: Uuid,
    pub staff_id: Uuid,
    pub service_id: Uuid,
    pub starts_at_us: i64,
    pub ends_at_us: i64,
    pub held_from_us: i64,
    pub held_until_us: i64,
    pub capacity: i64,
    pub seats_taken: i64,
});

entity!(bookings, "bookings", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub booking_id: Uuid,
    pub hold_id: Option<Uuid>,
    pub service_id: Uuid,
    pub staff_id: Uuid,
    pub customer_id: Uuid,
    pub starts_at_us: i64,
    pub ends_at_us: i64,
    pub seats: i64,
    pub status: String,
    pub answers: String,
    pub created_at_us: i64,
    pub confirmed_at_us: Option<i64>,
    pub cancelled_at_us: Option<i64>,
    pub cancelled_by: Option<String>,
    pub reschedules: i64,
    pub manage_digest: Option<Vec<u8>>,
});

entity!(idempotency_keys, "idempotency_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idem_key: String,
    pub request_digest: Vec<u8>,
    pub booking_id: Uuid,
    pub created_at_us: i64,
});

entity!(audit_log, "audit_log", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub at_us: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
});

entity!(audit_heads, "audit_heads", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub seq: i64,
    pub hash: Vec<u8>,
    pub anchor_seq: i64,
    pub anchor_hash: Vec<u8>,
    pub anchor_at_us: Option<i64>,
    pub anchor_mac: Option<Vec<u8>>,
});

entity!(users, "users", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub password_hash: Option<String>,
    pub totp_seed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub totp_pending: Option<Vec<u8>>,
    pub reset_required: bool,
    pub reset_digest: Option<Vec<u8>>,
    pub reset_expires_us: Option<i64>,
    pub created_at_us: i64,
    pub last_login_at_us: Option<i64>,
});

entity!(credential_directory, "credential_directory", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: Vec<u8>,
    pub tenant_id: Uuid,
    pub kind: String,
});

entity!(recovery_codes, "recovery_codes", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: Vec<u8>,
});

entity!(api_keys, "api_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub api_key_id: Uuid,
    pub name: String,
    pub digest: Vec<u8>,
    pub scopes: String,
    pub created_by: Uuid,
    pub created_at_us: i64,
    pub last_used_at_us: Option<i64>,
    pub revoked_at_us: Option<i64>,
});

entity!(sessions, "sessions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub digest: Vec<u8>,
    pub created_at_us: i64,
    pub last_seen_at_us: i64,
    pub expires_at_us: i64,
    pub revoked_at_us: Option<i64>,
});

entity!(calendar_connections, "calendar_connections", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub connection_id: Uuid,
    pub staff_id: Uuid,
    pub provider: String,
    pub mode: String,
    pub status: String,
    pub sealed_secret: Option<Vec<u8>>,
    pub sync_cursor: Option<String>,
    pub last_synced_at_us: Option<i64>,
    pub created_at_us: i64,
    pub label: String,
    pub failures: i64,
    pub next_sync_at_us: Option<i64>,
    pub lease_until_us: Option<i64>,
    pub last_error: Option<String>,
    pub degraded: bool,
    pub synced_until_us: Option<i64>,
});

entity!(busy_blocks, "busy_blocks", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub busy_block_id: Uuid,
    pub connection_id: Uuid,
    pub staff_id: Uuid,
    pub subject: Option<String>,
    pub starts_at_us: i64,
    pub ends_at_us: i64,
    pub all_day: bool,
    pub event_key: Option<Vec<u8>>,
});

entity!(login_throttle, "login_throttle", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_digest: Vec<u8>,
    pub failures: i64,
    pub window_start_us: i64,
    pub locked_until_us: Option<i64>,
});

entity!(invitations, "invitations", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub invitation_id: Uuid,
    pub digest: Vec<u8>,
    pub email: String,
    pub role: String,
    pub invited_by: Uuid,
    pub created_at_us: i64,
    pub expires_at_us: i64,
    pub accepted_at_us: Option<i64>,
});

entity!(sign_in_sources, "sign_in_sources", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: Vec<u8>,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
});

entity!(sign_in_notices, "sign_in_notices", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub notice_id: Uuid,
    pub user_id: Uuid,
    pub at_us: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub new_device: bool,
    pub new_network: bool,
});

entity!(data_requests, "data_requests", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: Uuid,
    pub customer_id: Uuid,
    pub kind: String,
    pub digest: Vec<u8>,
    pub created_by: Uuid,
    pub created_at_us: i64,
    pub expires_at_us: i64,
    pub used_at_us: Option<i64>,
});
