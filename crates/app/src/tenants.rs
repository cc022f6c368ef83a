//! An operator's changes to a business: its plan and its status. A plan
//! without calendar connections, a suspension or a cancellation
//! disconnects every calendar in the same transaction (P5): nothing keeps
//! syncing a calendar the business no longer may use.

use std::collections::BTreeMap;

use bookwarden_domain::audit::AuditKind;
use bookwarden_domain::id::TenantId;
use bookwarden_domain::tenant::{Plan, Tenant, TenantSlug, TenantStatus};

use crate::App;
use crate::accounts::PrivilegedAccount;
use crate::auth::audit;
use crate::error::AppError;

/// What an operator's change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantChanged {
    /// Calendar connections disconnected because of it.
    pub calendars_disconnected: usize,
}

/// The change an operator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantChange {
    /// Move to another plan.
    Plan(Plan),
    /// Suspend, reactivate or cancel.
    Status(TenantStatus),
}

impl App {
    /// The business at `slug`, for an operator's command.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a malformed slug, [`AppError::NotFound`]
    /// for an unknown one.
    pub(crate) async fn tenant_at(&self, slug: &str) -> Result<TenantId, AppError> {
        let slug = TenantSlug::parse(slug).map_err(|e| AppError::invalid("slug", e))?;
        self.store
            .system()
            .locate(&slug)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// The owners and admins of the business at `slug`, with their
    /// two-factor state and last sign-in: an operator's periodic review
    /// of privileged access (P14), as admins see it over the API.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a malformed slug, [`AppError::NotFound`]
    /// for an unknown one, or a store failure.
    pub async fn privileged_report(&self, slug: &str) -> Result<Vec<PrivilegedAccount>, AppError> {
        let tenant = self.tenant_at(slug).await?;
        self.privileged_in(tenant).await
    }

    /// Changes a business's plan or status (an operator's command, not an
    /// API call), audited in the business's own log.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown slug; [`AppError::Invalid`]
    /// for a change the tenant's life does not allow (a cancelled business
    /// stays cancelled).
    pub async fn change_tenant(
        &self,
        slug: &str,
        change: TenantChange,
    ) -> Result<TenantChanged, AppError> {
        let id = self.tenant_at(slug).await?;
        let now = self.now();
        let scope = self.store.write(id).await?;
        let mut tenant: Tenant = scope.tenant_row().await?.ok_or(AppError::NotFound)?;
        let (kind, detail) = match change {
            TenantChange::Plan(plan) => {
                tenant
                    .change_plan(plan)
                    .map_err(|e| AppError::invalid("plan", e))?;
                (AuditKind::TenantPlanChanged, ("plan", plan.as_str()))
            }
            TenantChange::Status(status) => {
                tenant
                    .set_status(status)
                    .map_err(|e| AppError::invalid("status", e))?;
                (AuditKind::TenantStatusChanged, ("status", status.as_str()))
            }
        };
        scope.update_tenant(&tenant).await?;
        audit(
            &scope,
            kind,
            None,
            Some(id.to_string()),
            BTreeMap::from([(detail.0.to_owned(), detail.1.to_owned())]),
            now,
        )
        .await?;
        let keeps_calendars =
            tenant.plan().allows_calendar_connections() && tenant.accepts_bookings();
        let (calendars_disconnected, grants) = if keeps_calendars {
            (0, Vec::new())
        } else {
            let reason = format!("{}_{}", detail.0, detail.1);
            self.disconnect_all_calendars(&scope, &reason, now).await?
        };
        scope.commit().await?;
        self.revoke_grants(grants).await;
        Ok(TenantChanged {
            calendars_disconnected,
        })
    }
}
