//! What a business offers: staff members with their schedules, services
//! with their intake forms, and customers. Ids, schedules and services
//! arrive parsed (the HTTP layer parses request text); names and contact
//! details are checked here through the domain's constructors, so every
//! refusal names its field.
//!
//! Roles: admins and owners manage everything in their tenant; a staff
//! member reads the catalog and changes only their own schedule.

use bookwarden_domain::account::{Customer, Email, PersonName, Phone, StaffMember};
use bookwarden_domain::id::{CustomerId, ScheduleId, ServiceId, StaffId, UserId};
use bookwarden_domain::schedule::{Schedule, ScheduleSpec};
use bookwarden_domain::service::{Service, ServiceSpec};
use bookwarden_persistence::StoreError;

use crate::App;
use crate::auth::{Need, Principal};
use crate::error::AppError;
use crate::error::Conflict;

/// A customer as sent: the contact details, checked here through the
/// domain's constructors (each refusal names `customer.email`,
/// `customer.name` or `customer.phone`). `Debug` shows none of them.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerInput {
    /// The contact address.
    pub email: String,
    /// The name.
    pub name: String,
    /// A phone number, if given.
    pub phone: Option<String>,
}

impl std::fmt::Debug for CustomerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerInput(..)")
    }
}

fn invalid(field: &'static str) -> impl Fn(&dyn std::fmt::Display) -> AppError {
    move |e| AppError::invalid(field, e)
}

impl App {
    /// The staff member record of the principal's own person, if any.
    pub(crate) async fn own_staff(
        &self,
        principal: &Principal,
    ) -> Result<Option<StaffId>, AppError> {
        let scope = self.store.read(principal.tenant).await?;
        let own = scope.staff().of_user(principal.user).await?;
        scope.commit().await?;
        Ok(own.map(|s| s.id()))
    }

    /// Adds a staff member, optionally linked to a user account of the
    /// tenant (so that person may manage their own schedule).
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`], [`AppError::NotFound`]
    /// for an unknown user.
    pub async fn create_staff(
        &self,
        principal: &Principal,
        name: &str,
        user: Option<UserId>,
    ) -> Result<StaffMember, AppError> {
        principal.require(Need::Admin)?;
        let name = PersonName::parse(name).map_err(|e| invalid("name")(&e))?;
        let member = StaffMember::create(principal.tenant, name, user);
        let scope = self.store.write(principal.tenant).await?;
        if let Some(user) = user
            && scope.users().get(user).await?.is_none()
        {
            scope.rollback().await?;
            return Err(AppError::invalid(
                "user",
                "no such account in this business",
            ));
        }
        match scope.staff().insert(&member).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::UserAlreadyStaff));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(member)
    }

    /// Every staff member.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn staff_list(&self, principal: &Principal) -> Result<Vec<StaffMember>, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.staff().list().await?;
        scope.commit().await?;
        Ok(all)
    }

    /// One staff member.
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn staff_get(
        &self,
        principal: &Principal,
        id: StaffId,
    ) -> Result<StaffMember, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.staff().get(id).await?;
        scope.commit().await?;
        found.ok_or(AppError::NotFound)
    }

    /// Removes a staff member who has no bookings.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`] while bookings or
    /// services still refer to them.
    pub async fn delete_staff(&self, principal: &Principal, id: StaffId) -> Result<(), AppError> {
        principal.require(Need::Admin)?;
        let scope = self.store.write(principal.tenant).await?;
        // Their calendar connections go with them (the database cascades):
        // their grants are revoked at the providers once it is done.
        let theirs: Vec<_> = scope
            .calendars()
            .list()
            .await?
            .into_iter()
            .filter(|c| c.staff == id)
            .collect();
        let grants = self.grants_of(&scope, &theirs).await?;
        match scope.staff().delete(id).await {
            Ok(true) => {}
            Ok(false) => {
                scope.rollback().await?;
                return Err(AppError::NotFound);
            }
            Err(StoreError::InUse(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::StaffInUse));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        self.revoke_grants(grants).await;
        Ok(())
    }

    /// Whether the principal may change `staff`'s schedule: admins any, a
    /// staff member their own.
    async fn may_edit_schedule(
        &self,
        principal: &Principal,
        staff: StaffId,
    ) -> Result<(), AppError> {
        principal.require(Need::Write)?;
        if principal.role.is_privileged() {
            return Ok(());
        }
        if self.own_staff(principal).await? == Some(staff) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Replaces a staff member's schedule.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::NotFound`], [`AppError::Invalid`].
    pub async fn put_schedule(
        &self,
        principal: &Principal,
        staff: StaffId,
        spec: ScheduleSpec,
    ) -> Result<Schedule, AppError> {
        principal.require(Need::Write)?;
        let scope = self.store.read(principal.tenant).await?;
        let exists = scope.staff().get(staff).await?.is_some();
        let current = scope.schedules().of_staff(staff).await?;
        scope.commit().await?;
        if !exists {
            return Err(AppError::NotFound);
        }
        self.may_edit_schedule(principal, staff).await?;
        let id = current.map_or_else(ScheduleId::random, |s| s.id());
        let schedule = Schedule::new(id, principal.tenant, staff, spec)
            .map_err(|e| invalid("schedule")(&e))?;
        let scope = self.store.write(principal.tenant).await?;
        scope.schedules().put(&schedule).await?;
        scope.commit().await?;
        Ok(schedule)
    }

    /// A staff member's schedule.
    ///
    /// # Errors
    /// [`AppError::NotFound`] when the member or their schedule is missing.
    pub async fn get_schedule(
        &self,
        principal: &Principal,
        staff: StaffId,
    ) -> Result<Schedule, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.schedules().of_staff(staff).await?;
        scope.commit().await?;
        found.ok_or(AppError::NotFound)
    }

    /// Adds a service.
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`] (`staff`: one listed
    /// twice, or not a staff member of this business).
    pub async fn create_service(
        &self,
        principal: &Principal,
        spec: ServiceSpec,
    ) -> Result<Service, AppError> {
        principal.require(Need::Admin)?;
        let service = Service::new(ServiceId::random(), principal.tenant, spec)
            .map_err(|e| invalid("staff")(&e))?;
        let scope = self.store.write(principal.tenant).await?;
        match scope.services().insert(&service).await {
            Ok(()) => {}
            Err(StoreError::MissingReference(_)) => {
                scope.rollback().await?;
                return Err(AppError::invalid(
                    "staff",
                    "no such staff member in this business",
                ));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(service)
    }

    /// Every service.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn services(&self, principal: &Principal) -> Result<Vec<Service>, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.services().list().await?;
        scope.commit().await?;
        Ok(all)
    }

    /// One service.
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn service(&self, principal: &Principal, id: ServiceId) -> Result<Service, AppError> {
        principal.require(Need::Read)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.services().get(id).await?;
        scope.commit().await?;
        #[cfg(feature = "isolation-canary")]
        let found = match found {
            Some(service) => Some(service),
            None => self.canary_service_of_any_tenant(id).await?,
        };
        found.ok_or(AppError::NotFound)
    }

    /// THE DELIBERATE LEAK of the `isolation-canary` build, which exists
    /// only to prove that the isolation check finds a leak (`cargo xtask
    /// ci` builds it apart and fails unless the check fails): a service
    /// missing from the caller's tenant is looked for in every tenant,
    /// through the store's cross-tenant directory. Never enabled by
    /// default or by any dependency (a tidy test checks every manifest).
    #[cfg(feature = "isolation-canary")]
    async fn canary_service_of_any_tenant(
        &self,
        id: ServiceId,
    ) -> Result<Option<Service>, AppError> {
        for (tenant, _) in self.store.system().tenants().await? {
            let scope = self.store.read(tenant).await?;
            let found = scope.services().get(id).await?;
            scope.commit().await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Removes a service that has no bookings.
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::Conflict`].
    pub async fn delete_service(
        &self,
        principal: &Principal,
        id: ServiceId,
    ) -> Result<(), AppError> {
        principal.require(Need::Admin)?;
        let scope = self.store.write(principal.tenant).await?;
        match scope.services().delete(id).await {
            Ok(true) => {}
            Ok(false) => {
                scope.rollback().await?;
                return Err(AppError::NotFound);
            }
            Err(StoreError::InUse(_)) => {
                scope.rollback().await?;
                return Err(AppError::Conflict(Conflict::ServiceInUse));
            }
            Err(other) => return Err(other.into()),
        }
        scope.commit().await?;
        Ok(())
    }

    /// Adds a customer; true when new. For an email already on file an
    /// admin gets the existing record, anyone else a conflict without it
    /// (staff may not read customer records by guessing emails).
    ///
    /// # Errors
    /// [`AppError::Forbidden`], [`AppError::Invalid`],
    /// [`AppError::Conflict`].
    pub async fn create_customer(
        &self,
        principal: &Principal,
        input: &CustomerInput,
    ) -> Result<(Customer, bool), AppError> {
        principal.require(Need::Write)?;
        let customer = parse_customer(principal.tenant, input)?;
        let scope = self.store.write(principal.tenant).await?;
        let (found, added) = self.find_or_add_customer(&scope, customer).await?;
        if !added && !principal.role.is_privileged() {
            scope.rollback().await?;
            return Err(AppError::Conflict(Conflict::CustomerExists));
        }
        scope.commit().await?;
        Ok((found, added))
    }

    /// The customer with this email, or this one added; true when added.
    pub(crate) async fn find_or_add_customer(
        &self,
        scope: &bookwarden_persistence::TenantScope,
        customer: Customer,
    ) -> Result<(Customer, bool), AppError> {
        if let Some(existing) = scope.customers().by_email(customer.email()).await? {
            return Ok((existing, false));
        }
        match scope.customers().insert(&customer, self.now()).await {
            Ok(()) => Ok((customer, true)),
            // Added meanwhile by a concurrent request (PostgreSQL).
            Err(StoreError::Duplicate(_)) => scope
                .customers()
                .by_email(customer.email())
                .await?
                .map(|c| (c, false))
                .ok_or(AppError::Busy),
            Err(other) => Err(other.into()),
        }
    }

    /// Every customer (admins).
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub async fn customers(&self, principal: &Principal) -> Result<Vec<Customer>, AppError> {
        principal.require(Need::Admin)?;
        let scope = self.store.read(principal.tenant).await?;
        let all = scope.customers().list().await?;
        scope.commit().await?;
        Ok(all)
    }

    /// One customer (admins).
    ///
    /// # Errors
    /// [`AppError::NotFound`].
    pub async fn customer(
        &self,
        principal: &Principal,
        id: CustomerId,
    ) -> Result<Customer, AppError> {
        principal.require(Need::Admin)?;
        let scope = self.store.read(principal.tenant).await?;
        let found = scope.customers().get(id).await?;
        scope.commit().await?;
        found.ok_or(AppError::NotFound)
    }
}

/// A customer from request text.
pub(crate) fn parse_customer(
    tenant: bookwarden_domain::id::TenantId,
    input: &CustomerInput,
) -> Result<Customer, AppError> {
    let email = Email::parse(&input.email).map_err(|e| invalid("customer.email")(&e))?;
    let name = PersonName::parse(&input.name).map_err(|e| invalid("customer.name")(&e))?;
    let phone = input
        .phone
        .as_deref()
        .map(|p| Phone::parse(p).map_err(|e| invalid("customer.phone")(&e)))
        .transpose()?;
    Ok(Customer::create(tenant, email, name, phone))
}
