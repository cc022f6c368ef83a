//! Staff members and customers of a tenant.

use bookwarden_domain::account::{Customer, Email, PersonName, Phone, StaffMember};
use bookwarden_domain::id::{CustomerId, StaffId, UserId};
use bookwarden_domain::jiff::Timestamp;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::{customers, staff};
use crate::error::{Refusal, StoreError, Unique, refusal};
use crate::rows::{corrupt, us};
use crate::store::TenantScope;

/// Staff members of the scope's tenant.
pub struct Staff<'s>(&'s TenantScope);

/// Customers of the scope's tenant.
pub struct Customers<'s>(&'s TenantScope);

impl TenantScope {
    /// Staff members.
    pub fn staff(&self) -> Staff<'_> {
        Staff(self)
    }

    /// Customers.
    pub fn customers(&self) -> Customers<'_> {
        Customers(self)
    }
}

fn parse_staff(row: staff::Model) -> Result<StaffMember, StoreError> {
    let name = PersonName::parse(&row.name).map_err(|e| corrupt("staff", e))?;
    Ok(StaffMember::restore(
        StaffId::from_uuid(row.staff_id),
        bookwarden_domain::id::TenantId::from_uuid(row.tenant_id),
        name,
        row.user_id.map(UserId::from_uuid),
    ))
}

fn write_refusal(e: sea_orm::DbErr, unique: Unique, reference: &'static str) -> StoreError {
    match refusal(&e) {
        Some(Refusal::Unique) => StoreError::Duplicate(unique),
        Some(Refusal::ForeignKey) => StoreError::MissingReference(reference),
        _ => StoreError::from(e),
    }
}

impl Staff<'_> {
    /// Adds a staff member.
    pub async fn insert(&self, member: &StaffMember) -> Result<(), StoreError> {
        let scope = self.0;
        scope.check_owner(member.tenant())?;
        staff::ActiveModel {
            tenant_id: Set(scope.uuid()),
            staff_id: Set(*member.id().as_uuid()),
            name: Set(member.name().as_str().to_owned()),
            user_id: Set(member.user().map(|u| *u.as_uuid())),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| write_refusal(e, Unique::StaffUser, "user"))?;
        Ok(())
    }

    /// One staff member, if they exist in this tenant.
    pub async fn get(&self, id: StaffId) -> Result<Option<StaffMember>, StoreError> {
        let scope = self.0;
        staff::Entity::find()
            .filter(staff::Column::TenantId.eq(scope.uuid()))
            .filter(staff::Column::StaffId.eq(*id.as_uuid()))
            .one(scope.tx())
            .await?
            .map(parse_staff)
            .transpose()
    }

    /// The staff member linked to `user`'s account, if any.
    pub async fn of_user(&self, user: UserId) -> Result<Option<StaffMember>, StoreError> {
        let scope = self.0;
        staff::Entity::find()
            .filter(staff::Column::TenantId.eq(scope.uuid()))
            .filter(staff::Column::UserId.eq(*user.as_uuid()))
            .one(scope.tx())
            .await?
            .map(parse_staff)
            .transpose()
    }

    /// Every staff member, ordered by id.
    pub async fn list(&self) -> Result<Vec<StaffMember>, StoreError> {
        let scope = self.0;
        staff::Entity::find()
            .filter(staff::Column::TenantId.eq(scope.uuid()))
            .order_by_asc(staff::Column::StaffId)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_staff)
            .collect()
    }

    /// Renames a staff member; `false` if there is no such staff member in
    /// this tenant.
    pub async fn rename(&self, id: StaffId, name: &PersonName) -> Result<bool, StoreError> {
        let scope = self.0;
        let result = staff::Entity::update_many()
            .col_expr(staff::Column::Name, name.as_str().into())
            .filter(staff::Column::TenantId.eq(scope.uuid()))
            .filter(staff::Column::StaffId.eq(*id.as_uuid()))
            .exec(scope.tx())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Removes a staff member with their schedule and service assignments;
    /// `false` if there is no such staff member in this tenant;
    /// [`StoreError::InUse`] while bookings still name them.
    pub async fn delete(&self, id: StaffId) -> Result<bool, StoreError> {
        let scope = self.0;
        let result = staff::Entity::delete_many()
            .filter(staff::Column::TenantId.eq(scope.uuid()))
            .filter(staff::Column::StaffId.eq(*id.as_uuid()))
            .exec(scope.tx())
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::ForeignKey) => StoreError::InUse("staff member"),
                _ => StoreError::from(e),
            })?;
        Ok(result.rows_affected == 1)
    }
}

pub(crate) fn parse_customer(row: customers::Model) -> Result<Customer, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt("customers", e);
    Ok(Customer::restore(
        CustomerId::from_uuid(row.customer_id),
        bookwarden_domain::id::TenantId::from_uuid(row.tenant_id),
        Email::parse(&row.email).map_err(|e| bad(&e))?,
        PersonName::parse(&row.name).map_err(|e| bad(&e))?,
        row.phone
            .as_deref()
            .map(Phone::parse)
            .transpose()
            .map_err(|e| bad(&e))?,
    ))
}

impl Customers<'_> {
    pub(crate) fn scope(&self) -> &TenantScope {
        self.0
    }

    /// Adds a customer; [`StoreError::Duplicate`] if the email is taken in
    /// this tenant (another tenant's customers do not count).
    pub async fn insert(&self, customer: &Customer, now: Timestamp) -> Result<(), StoreError> {
        let scope = self.0;
        scope.check_owner(customer.tenant())?;
        customers::ActiveModel {
            tenant_id: Set(scope.uuid()),
            customer_id: Set(*customer.id().as_uuid()),
            email: Set(customer.email().as_str().to_owned()),
            name: Set(customer.name().as_str().to_owned()),
            phone: Set(customer.phone().map(|p| p.as_str().to_owned())),
            created_at_us: Set(us(now)),
            erased_at_us: Set(None),
        }
        .insert(scope.tx())
        .await
        .map_err(|e| write_refusal(e, Unique::CustomerEmail, "tenant"))?;
        Ok(())
    }

    /// One customer, if they exist in this tenant.
    pub async fn get(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let scope = self.0;
        customers::Entity::find()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::ErasedAtUs.is_null())
            .filter(customers::Column::CustomerId.eq(*id.as_uuid()))
            .one(scope.tx())
            .await?
            .map(parse_customer)
            .transpose()
    }

    /// The customer with this email in this tenant.
    pub async fn by_email(&self, email: &Email) -> Result<Option<Customer>, StoreError> {
        let scope = self.0;
        customers::Entity::find()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::ErasedAtUs.is_null())
            .filter(customers::Column::Email.eq(email.as_str()))
            .one(scope.tx())
            .await?
            .map(parse_customer)
            .transpose()
    }

    /// Every customer, ordered by id.
    pub async fn list(&self) -> Result<Vec<Customer>, StoreError> {
        let scope = self.0;
        customers::Entity::find()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::ErasedAtUs.is_null())
            .order_by_asc(customers::Column::CustomerId)
            .all(scope.tx())
            .await?
            .into_iter()
            .map(parse_customer)
            .collect()
    }

    /// Saves a customer's changed name, email or phone; `false` if there is
    /// no such customer in this tenant.
    pub async fn update(&self, customer: &Customer) -> Result<bool, StoreError> {
        let scope = self.0;
        scope.check_owner(customer.tenant())?;
        let result = customers::Entity::update_many()
            .col_expr(customers::Column::Name, customer.name().as_str().into())
            .col_expr(customers::Column::Email, customer.email().as_str().into())
            .col_expr(
                customers::Column::Phone,
                customer.phone().map(|p| p.as_str().to_owned()).into(),
            )
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::ErasedAtUs.is_null())
            .filter(customers::Column::CustomerId.eq(*customer.id().as_uuid()))
            .exec(scope.tx())
            .await
            .map_err(|e| write_refusal(e, Unique::CustomerEmail, "tenant"))?;
        Ok(result.rows_affected == 1)
    }

    /// Removes a customer; `false` if there is no such customer in this
    /// tenant; [`StoreError::InUse`] while bookings still name them.
    pub async fn delete(&self, id: CustomerId) -> Result<bool, StoreError> {
        let scope = self.0;
        let result = customers::Entity::delete_many()
            .filter(customers::Column::TenantId.eq(scope.uuid()))
            .filter(customers::Column::ErasedAtUs.is_null())
            .filter(customers::Column::CustomerId.eq(*id.as_uuid()))
            .exec(scope.tx())
            .await
            .map_err(|e| match refusal(&e) {
                Some(Refusal::ForeignKey) => StoreError::InUse("customer"),
                _ => StoreError::from(e),
            })?;
        Ok(result.rows_affected == 1)
    }
}
