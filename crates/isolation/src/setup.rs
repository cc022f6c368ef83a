//! The three throwaway businesses, made and cleaned up over the public API
//! alone: sign-up, sign-in, invitations accepted as an admin and a staff
//! member, API keys of every scope; then, for every case, fresh staff with
//! schedules, a service, a booking (at a free time the server lists) and an
//! invitation. Everything a business holds is recorded as ids of each kind
//! (what operations draw from) and as markers (strings no other business
//! may ever see).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::action::{Kind, Listing, STARTS, Who, Window};
use crate::client::{Client, Request};
use crate::error::{Error, Exchange};
use crate::time::{DAY, now, rfc3339};

/// One business and what it holds.
pub(crate) struct Business {
    /// Its place among the three (0..3).
    pub(crate) index: usize,
    /// Its public slug.
    pub(crate) slug: String,
    /// A credential per sender (none for [`Who::Public`]).
    tokens: BTreeMap<Who, String>,
    /// Its ids of each kind.
    pools: BTreeMap<Kind, Vec<String>>,
    /// Strings no other business may ever see.
    pub(crate) markers: Vec<String>,
    /// Free times of its newest service (found from the slot listing).
    pub(crate) starts: Vec<String>,
    /// Its staff member's user id (linked to a staff record every case).
    staff_user: String,
}

/// A schedule's `weekly` body: 09:00 to 17:00 every day.
fn every_day() -> Value {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    Value::Object(
        days.iter()
            .map(|d| ((*d).to_owned(), json!([["09:00", "17:00"]])))
            .collect(),
    )
}

/// The string `field` of `value`, or an [`Error::Unexpected`] for `step`.
fn text(value: &Value, field: &str, step: &str) -> Result<String, Error> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Unexpected {
            step: format!("{step}: no `{field}` in the answer"),
            exchange: Box::new(Exchange {
                sender: String::new(),
                method: String::new(),
                path: String::new(),
                request_body: None,
                status: 0,
                body: value.to_string(),
            }),
        })
}

/// The array `field` of `value` (empty when missing).
fn items<'v>(value: &'v Value, field: &str) -> &'v [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl Business {
    /// The credential `who` sends.
    pub(crate) fn token(&self, who: Who) -> Option<&str> {
        self.tokens.get(&who).map(String::as_str)
    }

    /// The ids of `kind`.
    pub(crate) fn pool(&self, kind: Kind) -> &[String] {
        self.pools.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// A sender's name in reports.
    pub(crate) fn sender(&self, who: Who) -> String {
        format!("{who:?} of business {} ({})", self.index, self.slug)
    }

    fn owner(&self) -> Option<&str> {
        self.token(Who::Owner)
    }

    fn remember(&mut self, kind: Kind, id: String) {
        self.markers.push(id.clone());
        self.pools.entry(kind).or_default().push(id);
    }

    fn as_owner(&self, method: Method, path: impl Into<String>) -> Request {
        Request::new(self.sender(Who::Owner), method, path).token(self.owner())
    }

    /// Signs up a new business with a random slug, signs its owner in,
    /// brings in an admin and a staff member by invitation, and makes an
    /// API key of each scope.
    pub(crate) async fn sign_up(
        client: &Client,
        index: usize,
        password: &str,
    ) -> Result<Self, Error> {
        let slug = format!("iso-{}", uuid::Uuid::new_v4().simple())
            .chars()
            .take(16)
            .collect::<String>();
        let owner_email = format!("owner@{slug}.example");
        let step = format!("signing up business {index}");
        let signed_up = client
            .expect(
                &step,
                &Request::new("anonymous", Method::POST, "/v1/signup").body(json!({
                    "tenant_name": format!("Isolation check {slug}"),
                    "slug": slug,
                    "time_zone": "Europe/Berlin",
                    "email": owner_email,
                    "name": "Olive Owner",
                    "password": password,
                })),
                &[201],
            )
            .await?;
        let mut business = Self {
            index,
            markers: vec![
                slug.clone(),
                text(&signed_up, "tenant_id", &step)?,
                text(&signed_up, "user_id", &step)?,
            ],
            slug,
            tokens: BTreeMap::new(),
            pools: BTreeMap::new(),
            starts: Vec::new(),
            staff_user: String::new(),
        };
        business
            .pools
            .entry(Kind::User)
            .or_default()
            .push(text(&signed_up, "user_id", &step)?);
        let owner = business.sign_in(client, &owner_email, password).await?;
        business.tokens.insert(Who::Owner, owner);
        for (who, role) in [(Who::Admin, "admin"), (Who::Staff, "staff")] {
            let email = format!("{role}@{}.example", business.slug);
            let step = format!("inviting the {role} of business {index}");
            let invited = client
                .expect(
                    &step,
                    &business
                        .as_owner(Method::POST, "/v1/invitations")
                        .body(json!({ "email": email, "role": role })),
                    &[201],
                )
                .await?;
            business.remember(Kind::Invitation, text(&invited, "id", &step)?);
            let accepted = client
                .expect(
                    &step,
                    &Request::new("anonymous", Method::POST, "/v1/invitations/accept").body(
                        json!({
                            "token": text(&invited, "token", &step)?,
                            "name": "Sam Member",
                            "password": password,
                        }),
                    ),
                    &[201],
                )
                .await?;
            let user = text(&accepted, "user_id", &step)?;
            if who == Who::Staff {
                business.staff_user = user.clone();
            }
            business.remember(Kind::User, user);
            let token = business.sign_in(client, &email, password).await?;
            business.tokens.insert(who, token);
        }
        for (who, scope) in [
            (Who::KeyRead, "read"),
            (Who::KeyWrite, "write"),
            (Who::KeyAdmin, "admin"),
        ] {
            let step = format!("making the {scope} key of business {index}");
            let key = client
                .expect(
                    &step,
                    &business.as_owner(Method::POST, "/v1/api-keys").body(
                        json!({ "name": format!("isolation check {scope}"), "scopes": [scope] }),
                    ),
                    &[201],
                )
                .await?;
            business.remember(Kind::ApiKey, text(&key, "id", &step)?);
            business.tokens.insert(who, text(&key, "token", &step)?);
        }
        Ok(business)
    }

    async fn sign_in(&self, client: &Client, email: &str, password: &str) -> Result<String, Error> {
        let step = format!("signing in {email}");
        let session = client
            .expect(
                &step,
                &Request::new("anonymous", Method::POST, "/v1/sessions").body(json!({
                    "tenant": self.slug, "email": email, "password": password,
                })),
                &[201],
            )
            .await?;
        text(&session, "token", &step)
    }

    /// Makes this case's catalog: the staff member's linked record (again,
    /// if an operation removed it), a new unlinked staff member, both open
    /// 09:00 to 17:00 UTC every day, a service they give, a booking at the
    /// first free time the server lists, and an invitation.
    pub(crate) async fn refresh(&mut self, client: &Client, case: u32) -> Result<(), Error> {
        let step = format!("case {case}: the catalog of business {}", self.index);
        let staff = client
            .expect(&step, &self.as_owner(Method::GET, "/v1/staff"), &[200])
            .await?;
        let linked = items(&staff, "staff")
            .iter()
            .find(|s| s.get("user_id").and_then(Value::as_str) == Some(self.staff_user.as_str()))
            .and_then(|s| s.get("id").and_then(Value::as_str))
            .map(str::to_owned);
        let linked = match linked {
            Some(id) => id,
            None => {
                let made = client
                    .expect(
                        &step,
                        &self
                            .as_owner(Method::POST, "/v1/staff")
                            .body(json!({ "name": "Lee Linked", "user_id": self.staff_user })),
                        &[201],
                    )
                    .await?;
                text(&made, "id", &step)?
            }
        };
        let other = client
            .expect(
                &step,
                &self
                    .as_owner(Method::POST, "/v1/staff")
                    .body(json!({ "name": "Oona Other" })),
                &[201],
            )
            .await?;
        let other = text(&other, "id", &step)?;
        for member in [&linked, &other] {
            client
                .expect(
                    &step,
                    &self
                        .as_owner(Method::PUT, format!("/v1/staff/{member}/schedule"))
                        .body(json!({ "time_zone": "UTC", "weekly": every_day() })),
                    &[200],
                )
                .await?;
        }
        let service = client
            .expect(
                &step,
                &self.as_owner(Method::POST, "/v1/services").body(json!({
                    "name": "Visit", "duration_minutes": 60, "horizon_days": 90,
                    "staff": [linked, other],
                })),
                &[201],
            )
            .await?;
        let service = text(&service, "id", &step)?;
        let today = now();
        let slots = client
            .expect(
                &step,
                &Request::new(
                    format!("Public of business {}", self.index),
                    Method::GET,
                    format!(
                        "/v1/public/{}/services/{service}/slots?from={}&to={}&staff_id={other}",
                        self.slug,
                        rfc3339(today + 2 * DAY),
                        rfc3339(today + 9 * DAY),
                    ),
                ),
                &[200],
            )
            .await?;
        let starts: Vec<String> = items(&slots, "days")
            .iter()
            .flat_map(|day| items(day, "slots"))
            .filter_map(|slot| slot.get("start").and_then(Value::as_str))
            .map(str::to_owned)
            .take(STARTS + 1)
            .collect();
        let Some((first, later)) = starts.split_first().filter(|(_, l)| l.len() >= STARTS) else {
            return Err(Error::Unexpected {
                step: format!("{step}: fewer than {} free times listed", STARTS + 1),
                exchange: Box::new(Exchange {
                    sender: String::new(),
                    method: "GET".to_owned(),
                    path: format!("/v1/public/{}/services/{service}/slots", self.slug),
                    request_body: None,
                    status: 200,
                    body: slots.to_string(),
                }),
            });
        };
        let booked = client
            .expect(
                &step,
                &self.as_owner(Method::POST, "/v1/bookings").body(json!({
                    "service_id": service, "staff_id": other, "start": first,
                    "customer": {
                        "email": format!("customer-{case}@{}.example", self.slug),
                        "name": "Cam Customer",
                    },
                })),
                &[201],
            )
            .await?;
        let invitation = client
            .expect(
                &step,
                &self.as_owner(Method::POST, "/v1/invitations").body(json!({
                    "email": format!("invitee-{case}@{}.example", self.slug), "role": "staff",
                })),
                &[201],
            )
            .await?;
        self.starts = later.to_vec();
        if !self.pool(Kind::Staff).contains(&linked) {
            self.remember(Kind::Staff, linked);
        }
        self.remember(Kind::Staff, other);
        self.remember(Kind::Service, service);
        self.remember(Kind::Customer, text(&booked, "customer_id", &step)?);
        self.remember(Kind::Booking, text(&booked, "id", &step)?);
        self.remember(Kind::Invitation, text(&invitation, "id", &step)?);
        Ok(())
    }

    /// What the owner reads back: everything a request could have changed
    /// (staff, services, customers, bookings, accounts, keys, invitations,
    /// the audit chain, and every staff member's schedule).
    pub(crate) async fn read_back(
        &self,
        client: &Client,
        window: &Window,
    ) -> Result<Vec<Exchange>, Error> {
        let mut paths: Vec<String> = [
            Listing::Staff,
            Listing::Services,
            Listing::Customers,
            Listing::Bookings,
            Listing::Users,
            Listing::ApiKeys,
            Listing::Invitations,
            Listing::Audit,
        ]
        .iter()
        .map(|l| l.path(&self.slug, window))
        .collect();
        paths.extend(
            self.pool(Kind::Staff)
                .iter()
                .map(|member| format!("/v1/staff/{member}/schedule")),
        );
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            out.push(client.send(&self.as_owner(Method::GET, path)).await?);
        }
        Ok(out)
    }

    /// Removes what the check made: the whole business, erased by its owner
    /// (`POST /v1/erasure`, asked and confirmed), where the server erases
    /// businesses. Elsewhere (an older server), as far as its API allows:
    /// cancels the bookings, deletes services and staff (those a booking
    /// names stay), withdraws open invitations, revokes the API keys and
    /// signs everyone out; the business, its accounts and its customers
    /// remain.
    pub(crate) async fn clean_up(&self, client: &Client, window: &Window, tally: &mut Cleanup) {
        if self.erase(client).await {
            tally.count(true, "business erased", "");
            return;
        }
        let listing = |l: Listing| self.as_owner(Method::GET, l.path(&self.slug, window));
        let list = |value: Option<Value>, field: &str| -> Vec<Value> {
            value.map_or_else(Vec::new, |v| items(&v, field).to_vec())
        };
        let read =
            |l: Listing| async move { client.expect("cleanup", &listing(l), &[200]).await.ok() };
        for booking in list(read(Listing::Bookings).await, "bookings") {
            if booking.get("status").and_then(Value::as_str) == Some("cancelled") {
                continue;
            }
            let id = booking
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let done = self
                .delete_or_post(client, Method::POST, format!("/v1/bookings/{id}/cancel"))
                .await;
            tally.count(done, "booking cancelled", "booking not cancelled");
        }
        for service in list(read(Listing::Services).await, "services") {
            let id = service
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let done = self
                .delete_or_post(client, Method::DELETE, format!("/v1/services/{id}"))
                .await;
            tally.count(done, "service deleted", "service kept (bookings name it)");
        }
        for member in list(read(Listing::Staff).await, "staff") {
            let id = member.get("id").and_then(Value::as_str).unwrap_or_default();
            let done = self
                .delete_or_post(client, Method::DELETE, format!("/v1/staff/{id}"))
                .await;
            tally.count(
                done,
                "staff member deleted",
                "staff member kept (bookings name them)",
            );
        }
        for invitation in list(read(Listing::Invitations).await, "invitations") {
            if invitation.get("accepted_at").is_some_and(|a| !a.is_null()) {
                continue;
            }
            let id = invitation
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let done = self
                .delete_or_post(client, Method::DELETE, format!("/v1/invitations/{id}"))
                .await;
            tally.count(done, "invitation withdrawn", "invitation not withdrawn");
        }
        for key in list(read(Listing::ApiKeys).await, "api_keys") {
            if key.get("revoked_at").is_some_and(|a| !a.is_null()) {
                continue;
            }
            let id = key.get("id").and_then(Value::as_str).unwrap_or_default();
            let done = self
                .delete_or_post(client, Method::DELETE, format!("/v1/api-keys/{id}"))
                .await;
            tally.count(done, "API key revoked", "API key not revoked");
        }
        for who in [Who::Staff, Who::Admin, Who::Owner] {
            let request = Request::new(self.sender(who), Method::DELETE, "/v1/sessions/current")
                .token(self.token(who));
            let done = client
                .send(&request)
                .await
                .is_ok_and(|e| (200..300).contains(&e.status));
            tally.count(done, "session signed out", "session not signed out");
        }
    }

    /// Erases the business: the first call answers a confirmation, the
    /// second, carrying it, erases. False when the server does not.
    async fn erase(&self, client: &Client) -> bool {
        let asked = client
            .send(&self.as_owner(Method::POST, "/v1/erasure").body(json!({})))
            .await;
        let Some(confirmation) = asked
            .ok()
            .filter(|e| e.status == 200)
            .and_then(|e| serde_json::from_str::<Value>(&e.body).ok())
            .and_then(|v| {
                v.get("confirmation")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        else {
            return false;
        };
        let done = client
            .send(
                &self
                    .as_owner(Method::POST, "/v1/erasure")
                    .body(json!({ "confirmation": confirmation })),
            )
            .await;
        done.is_ok_and(|e| e.status == 200 && e.body.contains("\"erased\""))
    }

    async fn delete_or_post(&self, client: &Client, method: Method, path: String) -> bool {
        client
            .send(&self.as_owner(method, path))
            .await
            .is_ok_and(|e| (200..300).contains(&e.status))
    }
}

/// What cleanup did and what it left, by what (`"API key revoked"` -> 3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Things removed, by kind.
    pub done: BTreeMap<&'static str, u32>,
    /// Things left behind, by kind and reason.
    pub left: BTreeMap<&'static str, u32>,
}

impl Cleanup {
    fn count(&mut self, done: bool, what: &'static str, otherwise: &'static str) {
        let (map, key) = if done {
            (&mut self.done, what)
        } else {
            (&mut self.left, otherwise)
        };
        *map.entry(key).or_default() += 1;
    }
}
