//! Data rights (P10): a tenant's legal hold, a customer's erasure, and the
//! reads an export streams from, a page at a time in key order so that a
//! tenant of any size exports in bounded memory.

use bookwarden_domain::account::Customer;
use bookwarden_domain::booking::AnyBooking;
use bookwarden_domain::data_request::DataRequestKind;
use bookwarden_domain::id::{BookingId, CustomerId, DataRequestId, UserId};
use bookwarden_domain::intake::IntakeAnswers;
use bookwarden_domain::jiff::Timestamp;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait as _, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use crate::bookings::parse_booking;
use crate::entity::{audit_log, bookings, customers, data_requests, idempotency_keys, tenants};
use crate::error::StoreError;
use crate::people::{Customers, parse_customer};
use crate::rows::{self, us};
use crate::store::TenantScope;

impl TenantScope {
    /// Whether the tenant is under a legal hold.
    pub async fn legal_hold(&self) -> Result<bool, StoreError> {
        self.read_legal_hold(false).await
    }

    /// Reads the hold; `lock` (write scopes only) keeps the tenant row
    /// locked against a change of the hold until the scope ends on
    /// PostgreSQL (SQLite's writer is alone anyway), so an erasure that
    /// found no hold cannot race one being set.
    pub(crate) async fn read_legal_hold(&self, lock: bool) -> Result<bool, StoreError> {
        let backend = self.tx().get_database_backend();
        let sql = match (backend, lock) {
            (DbBackend::Postgres, true) => {
                "SELECT legal_hold FROM tenants WHERE tenant_id = $1 FOR SHARE"
            }
            (DbBackend::Postgres, false) => "SELECT legal_hold FROM tenants WHERE tenant_id = $1",
            _ => "SELECT legal_hold FROM tenants WHERE tenant_id = ?",
        };
        let row = self
            .tx()
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [self.uuid().into()],
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get::<bool>("", "legal_hold"))
            .transpose()?
            .unwrap_or(false))
    }

    /// Sets or lifts the tenant's legal hold; `false` if the tenant row is
    /// missing.
    pub async fn set_legal_hold(&self, on: bool) -> Result<bool, StoreError> {
        let result = tenants::Entity::update_many()
            .col_expr(tenants::Column::LegalHold, Expr::value(on))
            .filter(tenants::Column::TenantId.eq(self.uuid()))
            .exec(self.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// How many rows an export of the tenant writes from its large tables
    /// (customers, bookings, audit entries), for a progress display.
    pub async fn export_rows(&self) -> Result<u64, StoreError> {
        let tenant = self.uuid();
        let customers = customers::Entity::find()
            .filter(customers::Column::TenantId.eq(tenant))
            .count(self.tx())
            .await?;
        let bookings = bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(tenant))
            .count(self.tx())
            .await?;
        let audit = audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(tenant))
            .count(self.tx())
            .await?;
        Ok(customers + bookings + audit)
    }

    /// Refuses with [`StoreError::LegalHold`] while the tenant is under a
    /// legal hold (in a write scope).
    pub(crate) async fn refuse_under_hold(&self) -> Result<(), StoreError> {
        if self.read_legal_hold(true).await? {
            return Err(StoreError::LegalHold);
        }
        Ok(())
    }
}

/// A customer as an export shows them: an erased customer keeps only their
/// id and the times.
#[derive(Clone)]
pub struct CustomerRecord {
    /// Their id.
    pub id: CustomerId,
    /// Name, email and phone; `None` once erased.
    pub details: Option<Customer>,
    /// When they were added.
    pub created_at: Timestamp,
    /// When they were erased.
    pub erased_at: Option<Timestamp>,
}

impl std::fmt::Debug for CustomerRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Name, email and phone are personal data: ids and times only.
        f.debug_struct("CustomerRecord")
            .field("id", &self.id)
            .field("erased", &self.erased_at.is_some())
            .finish_non_exhaustive()
    }
}

/// A booking as an export shows it.
#[derive(Clone, Debug)]
pub struct BookingRecord {
    /// The booking.
    pub booking: AnyBooking,
    /// Whether a manage link is live for it (the link itself is never
    /// stored, only its digest, which no export carries).
    pub manage_link: bool,
}

/// What [`Customers::erase`] did. `Debug` shows counts, not digests.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerErased {
    /// The bookings made anonymous time blocks.
    pub bookings: u64,
    /// The digests of the manage links that stopped working; forget them
    /// in the credential directory once the scope is committed.
    pub manage_digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for CustomerErased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerErased")
            .field("bookings", &self.bookings)
            .field("manage_links", &self.manage_digests.len())
            .finish()
    }
}

fn parse_record(row: customers::Model) -> Result<CustomerRecord, StoreError> {
    let id = CustomerId::from_uuid(row.customer_id);
    let created_at = rows::instant("customers", row.created_at_us)?;
    let erased_at = row
        .erased_at_us
        .map(|at| rows::instant("customers", at))
        .transpose()?;
    let details = match erased_at {
        Some(_) => None,
        None => Some(parse_customer(row)?),
    };
    Ok(CustomerRecord {
        id,
        details,
        created_at,
        erased_at,
    })
}

fn booking_record(row: bookings::Model) -> Result<BookingRecord, StoreError> {
    let manage_link = row.manage_digest.is_some();
    Ok(BookingRecord {
        booking: parse_booking(row)?,
        manage_link,
    })
}

impl Customers<'_> {
    /// A customer as an export shows them, erased or not.
    pub async fn record(&self, id: CustomerId) -> Result<Option<CustomerRecord>, StoreError> {
        let scope = self.scope();
        customers::Entity::find()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::CustomerId.eq(*id.as_uuid()))
            .one(scope.tx())
            .await?
            .map(parse_record)
            .transpose()
    }

    /// Up to `limit` customers, erased ones included, after `after` in id
    /// order (from the first without it).
    pub async fn page(
        &self,
        after: Option<CustomerId>,
        limit: u64,
    ) -> Result<Vec<CustomerRecord>, StoreError> {
        let scope = self.scope();
        let after = after.map_or(sea_orm::prelude::Uuid::nil(), |id| *id.as_uuid());
        customers::Entity::find()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::CustomerId.gt(after))
            .order_by_asc(customers::Column::CustomerId)
            .limit(limit)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_record)
            .collect()
    }

    /// Erases a customer: name, email and phone are removed (the row stays
    /// as a tombstone, never read as a customer again), their bookings keep
    /// only their times, service, staff and stage (intake answers are
    /// deleted, manage links stop working at once) and their idempotency
    /// keys are dropped. `None` if there is no such customer, or they are
    /// erased already; [`StoreError::LegalHold`] under a legal hold.
    pub async fn erase(
        &self,
        id: CustomerId,
        now: Timestamp,
    ) -> Result<Option<CustomerErased>, StoreError> {
        let scope = self.scope();
        scope.refuse_under_hold().await?;
        let tenant = scope.uuid();
        let customer = *id.as_uuid();
        // Locked first on PostgreSQL: a booking being stored for them
        // (holding its foreign-key lock on the row) finishes before the
        // erasure reads their bookings, and one stored after it is refused
        // (migration 0006). SQLite's one writer orders them anyway.
        let backend = scope.tx().get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT erased_at_us FROM customers WHERE tenant_id = $1 AND customer_id = $2 \
                 FOR UPDATE"
            }
            _ => "SELECT erased_at_us FROM customers WHERE tenant_id = ? AND customer_id = ?",
        };
        let row = scope
            .tx()
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.into(), customer.into()],
            ))
            .await?;
        let live = match row {
            Some(row) => row.try_get::<Option<i64>>("", "erased_at_us")?.is_none(),
            None => false,
        };
        if !live {
            return Ok(None);
        }
        let of_customer = || {
            bookings::Column::TenantId
                .eq(tenant)
                .and(bookings::Column::CustomerId.eq(customer))
        };
        let manage_digests = bookings::Entity::find()
            .select_only()
            .column(bookings::Column::ManageDigest)
            .filter(of_customer())
            .filter(bookings::Column::ManageDigest.is_not_null())
            .into_tuple::<Option<Vec<u8>>>()
            .all(scope.tx())
            .await?
            .into_iter()
            .flatten()
            .filter_map(|digest| <[u8; 32]>::try_from(digest).ok())
            .collect();
        idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::TenantId.eq(tenant))
            .filter(
                idempotency_keys::Column::BookingId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(bookings::Column::BookingId)
                        .from(bookings::Entity)
                        .and_where(of_customer())
                        .to_owned(),
                ),
            )
            .exec(scope.tx())
            .await?;
        let no_answers = rows::answers_json(&IntakeAnswers::default())?;
        let anonymized = bookings::Entity::update_many()
            .col_expr(bookings::Column::Answers, Expr::value(no_answers))
            .col_expr(
                bookings::Column::ManageDigest,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .filter(of_customer())
            .exec(scope.tx())
            .await?;
        // Their request links lead nowhere now.
        data_requests::Entity::delete_many()
            .filter(data_requests::Column::TenantId.eq(tenant))
            .filter(data_requests::Column::CustomerId.eq(customer))
            .exec(scope.tx())
            .await?;
        customers::Entity::update_many()
            // Unique per tenant like any email, and not an address.
            .col_expr(
                customers::Column::Email,
                Expr::value(format!("erased:{}", id.as_uuid().simple())),
            )
            .col_expr(customers::Column::Name, Expr::value(String::new()))
            .col_expr(
                customers::Column::Phone,
                Expr::value(Option::<String>::None),
            )
            .col_expr(customers::Column::ErasedAtUs, Expr::value(us(now)))
            .filter(customers::Column::TenantId.eq(tenant))
            .filter(customers::Column::CustomerId.eq(customer))
            .filter(customers::Column::ErasedAtUs.is_null())
            .exec(scope.tx())
            .await?;
        Ok(Some(CustomerErased {
            bookings: anonymized.rows_affected,
            manage_digests,
        }))
    }
}

impl crate::Bookings<'_> {
    /// Every booking of one customer, by start.
    pub async fn of_customer(&self, id: CustomerId) -> Result<Vec<BookingRecord>, StoreError> {
        let scope = self.scope();
        bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::CustomerId.eq(*id.as_uuid()))
            .order_by_asc(bookings::Column::StartsAtUs)
            .order_by_asc(bookings::Column::BookingId)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(booking_record)
            .collect()
    }

    /// Up to `limit` bookings after `after` in id order (from the first
    /// without it).
    pub async fn page(
        &self,
        after: Option<BookingId>,
        limit: u64,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        let scope = self.scope();
        // One statement for every page (from the nil id for the first),
        // so it is prepared once.
        let after = after.map_or(sea_orm::prelude::Uuid::nil(), |id| *id.as_uuid());
        bookings::Entity::find()
            .filter(bookings::Column::TenantId.eq(scope.uuid()))
            .filter(bookings::Column::BookingId.gt(after))
            .order_by_asc(bookings::Column::BookingId)
            .limit(limit)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(booking_record)
            .collect()
    }
}

/// A customer's data-rights request link as stored: the token's digest,
/// never the token. `Debug` leaves the digest out.
#[derive(Clone, PartialEq, Eq)]
pub struct DataRequestRecord {
    /// Its id.
    pub id: DataRequestId,
    /// The customer it is for.
    pub customer: CustomerId,
    /// What it does.
    pub kind: DataRequestKind,
    /// SHA-256 of the token.
    pub digest: [u8; 32],
    /// The admin who made it.
    pub created_by: UserId,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was used, if it was.
    pub used_at: Option<Timestamp>,
}

impl std::fmt::Debug for DataRequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataRequestRecord")
            .field("id", &self.id)
            .field("customer", &self.customer)
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

fn data_request(row: data_requests::Model) -> Result<DataRequestRecord, StoreError> {
    let table = "data_requests";
    Ok(DataRequestRecord {
        id: DataRequestId::from_uuid(row.request_id),
        customer: CustomerId::from_uuid(row.customer_id),
        kind: DataRequestKind::parse(&row.kind).map_err(|e| rows::corrupt(table, e))?,
        digest: <[u8; 32]>::try_from(row.digest.as_slice()).map_err(|e| rows::corrupt(table, e))?,
        created_by: UserId::from_uuid(row.created_by),
        created_at: rows::instant(table, row.created_at_us)?,
        expires_at: rows::instant(table, row.expires_at_us)?,
        used_at: row
            .used_at_us
            .map(|us| rows::instant(table, us))
            .transpose()?,
    })
}

/// The scope tenant's customers' data-rights request links.
pub struct DataRequests<'s>(&'s TenantScope);

impl TenantScope {
    /// Customers' data-rights request links.
    pub fn data_requests(&self) -> DataRequests<'_> {
        DataRequests(self)
    }
}

impl DataRequests<'_> {
    /// Stores a new link; false, storing nothing, when its customer is not
    /// in the business or is erased.
    ///
    /// # Errors
    /// [`StoreError::LegalHold`] for an erasure link under a legal hold.
    pub async fn insert(&self, request: &DataRequestRecord) -> Result<bool, StoreError> {
        let scope = self.0;
        if request.kind == DataRequestKind::Erasure {
            scope.refuse_under_hold().await?;
        }
        let live = customers::Entity::find()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::CustomerId.eq(*request.customer.as_uuid()))
            .filter(customers::Column::ErasedAtUs.is_null())
            .count(scope.tx())
            .await?;
        if live == 0 {
            return Ok(false);
        }
        data_requests::Entity::insert(data_requests::ActiveModel {
            tenant_id: Set(scope.uuid()),
            request_id: Set(*request.id.as_uuid()),
            customer_id: Set(*request.customer.as_uuid()),
            kind: Set(request.kind.as_str().to_owned()),
            digest: Set(request.digest.to_vec()),
            created_by: Set(*request.created_by.as_uuid()),
            created_at_us: Set(us(request.created_at)),
            expires_at_us: Set(us(request.expires_at)),
            used_at_us: Set(request.used_at.map(us)),
        })
        .exec(scope.tx())
        .await
        .map_err(|e| match crate::error::refusal(&e) {
            Some(crate::error::Refusal::ForeignKey) => StoreError::MissingReference("customer"),
            _ => StoreError::from(e),
        })?;
        Ok(true)
    }

    /// The link with this digest if it still works at `now` (not used, not
    /// expired).
    pub async fn live(
        &self,
        digest: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<DataRequestRecord>, StoreError> {
        let scope = self.0;
        data_requests::Entity::find()
            .filter(data_requests::Column::TenantId.eq(scope.uuid()))
            .filter(data_requests::Column::Digest.eq(digest.to_vec()))
            .filter(data_requests::Column::UsedAtUs.is_null())
            .filter(data_requests::Column::ExpiresAtUs.gt(us(now)))
            .one(scope.tx())
            .await?
            .map(data_request)
            .transpose()
    }

    /// Uses the link with this digest: true for the one caller that finds
    /// it still working at `now`; it works for no one after.
    pub async fn use_once(&self, digest: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        let scope = self.0;
        let used = data_requests::Entity::update_many()
            .col_expr(data_requests::Column::UsedAtUs, Expr::value(us(now)))
            .filter(data_requests::Column::TenantId.eq(scope.uuid()))
            .filter(data_requests::Column::Digest.eq(digest.to_vec()))
            .filter(data_requests::Column::UsedAtUs.is_null())
            .filter(data_requests::Column::ExpiresAtUs.gt(us(now)))
            .exec(scope.tx())
            .await?;
        Ok(used.rows_affected == 1)
    }
}
