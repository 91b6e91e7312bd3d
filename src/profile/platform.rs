//! The platforms' own `data` shapes mapped onto the typed payloads, before the typed parse.
//!
//! LearnWorlds nests entities under their name (`data.user`, `data.course`, `data.payment`,
//! `data.subscription`, `data.product`), writes prices as numbers in major units without a
//! currency, dates as float epoch seconds or ISO text, and sends user fields flat in `data` for
//! tag events and leads. LearnInk sends flat ids (`user_id`, `custom_id`, `phone_number`,
//! `course_id`). Each function here turns such a `data` into the crate's payload shape,
//! moving every field it does not model into the payload's `extra` (or the entity's), so that
//! nothing sent is lost. Every mapping is also the identity on the crate's own shape, so the
//! bodies this crate renders in a platform's layout read back unchanged.
//!
//! Money is read from the number's text in the body (`"price": 49.90` is 4990 cents), never
//! through a float; see [`Money::from_major`].

use std::cell::OnceCell;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::layout::lenient_timestamp;
use crate::event::{Currency, Money};
use crate::EventType;

type Object = Map<String, Value>;

/// What a mapping reads besides `data`: the body's raw text (for the digits of prices, found
/// only when a price is met) and the currency to assume where the body names none.
pub(super) struct Source<'a> {
    body: &'a [u8],
    data: OnceCell<Option<&'a RawValue>>,
    currency: Option<Currency>,
}

impl<'a> Source<'a> {
    pub(super) fn new(body: &'a [u8], currency: Option<Currency>) -> Source<'a> {
        Source {
            body,
            data: OnceCell::new(),
            currency,
        }
    }

    /// The raw text of the body's `data`.
    fn raw_data(&self) -> Option<&'a RawValue> {
        /// Only `data` of a platform body, unparsed.
        #[derive(serde::Deserialize)]
        struct RawData<'a> {
            #[serde(borrow, default)]
            data: Option<&'a RawValue>,
        }
        *self.data.get_or_init(|| {
            serde_json::from_slice::<RawData<'a>>(self.body)
                .ok()
                .and_then(|r| r.data)
        })
    }
}

/// A LearnWorlds `data` in the payload shape of `event_type`. `Err` says what the body lacks
/// for the typed payload (the caller then keeps it untyped, as received).
pub(super) fn learnworlds(
    event_type: EventType,
    data: Value,
    src: &Source<'_>,
) -> Result<Value, String> {
    use EventType as T;
    let Value::Object(mut o) = data else {
        return Ok(data);
    };
    let mapped = match event_type {
        T::CrmUserCreated | T::CrmUserUpdated => {
            let user = take_person(&mut o, &["user"], true);
            with_rest(json!({ "user": user }), o)
        }
        T::CrmContactTagAdded | T::CrmContactTagRemoved => {
            // LearnWorlds sends the user flat and does not say which tags changed: `tags` stays
            // empty unless the body names them; the user's tags after the change are in
            // `contact.tags`.
            let tags = match o.contains_key("contact") {
                true => o.remove("tags"),
                false => None,
            };
            let contact = take_person(&mut o, &["contact", "user"], true);
            let mut out = json!({ "contact": contact });
            if let Some(tags) = tags {
                out["tags"] = tags;
            }
            with_rest(out, o)
        }
        T::CrmLeadCaptured => {
            let source = o.remove("page_submitted");
            let contact = take_person(&mut o, &["contact", "user"], true);
            let mut out = json!({ "contact": contact });
            put(&mut out, "source", source.and_then(text));
            with_rest(out, o)
        }
        T::CourseMemberAdded
        | T::CourseMemberEnrolledFree
        | T::CourseMemberRemoved
        | T::CourseMemberStarted
        | T::CourseMemberCompleted => member_and_course(o, src),
        T::CourseProgramCompleted => {
            let member = take_person(&mut o, &["member", "user"], false);
            let program = o
                .remove("program")
                .or_else(|| o.remove("learningProgram"))
                .map(named);
            let mut out = json!({ "member": member });
            put(&mut out, "program", program);
            with_rest(out, o)
        }
        T::CourseCertificateAwarded => {
            let mut out = json!({});
            if let Some(Value::Object(mut cert)) = o.remove("certificate") {
                put(&mut out, "id", cert.remove("id").and_then(text));
                if let Some(course) = cert.remove("course_id").and_then(text) {
                    out["course"] = json!({ "id": course });
                }
                match cert.remove("short_url") {
                    Some(Value::String(url)) if !url.is_empty() => out["url"] = json!(url),
                    Some(other) => {
                        cert.insert("short_url".into(), other);
                    }
                    None => {}
                }
                if !o.contains_key("user") {
                    if let Some(user) = cert.remove("user") {
                        o.insert("user".into(), user);
                    }
                }
                out["certificate"] = Value::Object(cert);
            }
            let member = take_person(&mut o, &["member", "user"], false);
            out["member"] = member;
            for key in ["id", "url", "credential_id", "expires_at"] {
                if let Some(v) = o.remove(key) {
                    out[key] = v;
                }
            }
            if let Some(course) = o.remove("course") {
                out["course"] = course_of(course);
            }
            with_rest(out, o)
        }
        T::CourseSectionPreviewed => {
            let visitor = take_person(&mut o, &["visitor", "user"], false);
            let mut out = json!({});
            if let Some(course) = o.remove("course") {
                out["course"] = course_of(course);
            }
            put(&mut out, "section", o.remove("section"));
            if !visitor.is_null() {
                out["visitor"] = visitor;
            }
            with_rest(out, o)
        }
        T::SalesProductPurchased => purchase(o, src)?,
        T::SalesPaymentCreated => payment(o, src)?,
        T::SalesSubscriptionCreated
        | T::SalesSubscriptionUpdated
        | T::SalesSubscriptionCanceled
        | T::SalesSubscriptionPaid
        | T::SalesSubscriptionTrialStarted
        | T::SalesSubscriptionTrialEnding => subscription(event_type, o, src)?,
        _ => Value::Object(o),
    };
    Ok(mapped)
}

/// A LearnInk `data` in the payload shape of `event_type`: flat `user_id`, `custom_id`,
/// `phone_number` make the member; `course_id` the course; `certificate_id` the certificate.
pub(super) fn learnink(event_type: EventType, data: Value, src: &Source<'_>) -> Value {
    use EventType as T;
    let Value::Object(o) = data else {
        return data;
    };
    match event_type {
        T::CrmUserCreated | T::CrmUserUpdated => {
            let mut o = o;
            let user = take_person(&mut o, &["user"], true);
            with_rest(json!({ "user": user }), o)
        }
        T::CourseMemberAdded
        | T::CourseMemberEnrolledFree
        | T::CourseMemberRemoved
        | T::CourseMemberStarted
        | T::CourseMemberCompleted => member_and_course(o, src),
        T::CourseCertificateAwarded => {
            let mut o = o;
            let mut out = json!({});
            let id = o.remove("certificate_id").or_else(|| o.remove("id"));
            put(&mut out, "id", id.and_then(text));
            let url = o.remove("certificate_url").or_else(|| o.remove("url"));
            put(&mut out, "url", url.and_then(text));
            let course = match o.remove("course") {
                Some(course) => Some(course_of(course)),
                None => o
                    .remove("course_id")
                    .and_then(text)
                    .map(|id| json!({ "id": id })),
            };
            put(&mut out, "course", course);
            out["member"] = take_person(&mut o, &["member", "user"], true);
            with_rest(out, o)
        }
        _ => Value::Object(o),
    }
}

/// The occurred-at time a LearnWorlds `data` carries (its body has no envelope timestamp):
/// `date`, `completed_at`, `created_at`, `created` (a lead's), `issued`; then the
/// certificate's `issued` or `created`; then the payment's `paid_at` or `created`. Only the
/// event's own objects are read: `data.user.created` is when the user signed up, not when the
/// event happened.
pub(super) fn learnworlds_occurred_at(data: &Value) -> Option<crate::Timestamp> {
    let first = |value: Option<&Value>, keys: &[&str]| {
        let value = value?;
        keys.iter()
            .find_map(|key| value.get(key).and_then(lenient_timestamp))
    };
    first(
        Some(data),
        &["date", "completed_at", "created_at", "created", "issued"],
    )
    .or_else(|| first(data.get("certificate"), &["issued", "created"]))
    .or_else(|| first(data.get("payment"), &["paid_at", "created"]))
}

/// `member` and `course` (plus `product`) of enrollment and completion payloads.
fn member_and_course(mut o: Object, src: &Source<'_>) -> Value {
    let member = take_person(&mut o, &["member", "user"], true);
    let mut out = json!({ "member": member });
    let product = o
        .remove("product")
        .map(|p| product_of(p, src, &["product"]));
    let course = match o.remove("course") {
        Some(course) => Some(course_of(course)),
        None => match o.remove("course_id").and_then(text) {
            Some(id) => Some(json!({ "id": id })),
            // LearnWorlds' unenrollment names the product (a course, bundle...), not a course.
            None => product.as_ref().and_then(|p| {
                let id = p.get("id")?.clone();
                let mut course = json!({ "id": id });
                put(&mut course, "title", p.get("name").cloned());
                Some(course)
            }),
        },
    };
    put(&mut out, "course", course);
    put(&mut out, "product", product);
    for key in ["source", "expires_at", "reason"] {
        if let Some(v) = o.remove(key) {
            out[key] = v;
        }
    }
    with_rest(out, o)
}

/// What a purchase and a payment share, read from `data.payment`: `id`, `customer`, `amount`,
/// `coupon` and `payment_method`, with the payment's other fields and its currency; `None`
/// when `data` has no payment object (the crate's own shape).
fn payment_fields(
    o: &mut Object,
    src: &Source<'_>,
) -> Result<Option<(Value, Object, Option<Currency>)>, String> {
    let mut pay = match o.remove("payment") {
        Some(Value::Object(pay)) => pay,
        Some(other) => {
            o.insert("payment".into(), other);
            return Ok(None);
        }
        None => return Ok(None),
    };
    let currency = currency_in(&pay, o, src)?;
    let mut out = json!({});
    put(&mut out, "id", pay.remove("id").and_then(text));
    put(&mut out, "customer", Some(customer(o, &mut pay)));
    put(&mut out, "amount", payment_amount(&mut pay, src, currency)?);
    put(&mut out, "coupon", pay.remove("coupon").and_then(text));
    put(
        &mut out,
        "payment_method",
        pay.remove("gateway").and_then(text),
    );
    Ok(Some((out, pay, currency)))
}

fn purchase(mut o: Object, src: &Source<'_>) -> Result<Value, String> {
    let Some((mut out, mut pay, currency)) = payment_fields(&mut o, src)? else {
        return Ok(Value::Object(o));
    };
    put(
        &mut out,
        "affiliate_id",
        pay.remove("affiliate").and_then(id_of),
    );
    let products = match pay.remove("products") {
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|p| product_in(p, src, currency, &[]))
            .collect::<Result<Vec<_>, _>>()?,
        _ => match pay.remove("product") {
            Some(p) => vec![product_in(p, src, currency, &["payment", "product"])?],
            None => Vec::new(),
        },
    };
    out["products"] = Value::Array(products);
    out["payment"] = Value::Object(pay);
    Ok(with_rest(out, o))
}

fn payment(mut o: Object, src: &Source<'_>) -> Result<Value, String> {
    let Some((mut out, mut pay, currency)) = payment_fields(&mut o, src)? else {
        return Ok(Value::Object(o));
    };
    if let Some(p) = pay.remove("product") {
        let product = product_in(p, src, currency, &["payment", "product"])?;
        if pay.get("type").and_then(Value::as_str) == Some("subscription") {
            let user = out["customer"].get("id").and_then(Value::as_str);
            let plan = product.get("id").and_then(Value::as_str);
            let id = subscription_id(user, plan);
            put(&mut out, "subscription_id", id);
        }
        out["product"] = product;
    }
    let installment = pay.remove("payment_plan_current_payment");
    put(&mut out, "installment", installment.filter(Value::is_u64));
    out["payment"] = Value::Object(pay);
    Ok(with_rest(out, o))
}

fn subscription(event_type: EventType, mut o: Object, src: &Source<'_>) -> Result<Value, String> {
    use EventType as T;
    let mut out = json!({});
    let mut payment = match o.remove("payment") {
        Some(Value::Object(p)) => Some(p),
        Some(other) => {
            o.insert("payment".into(), other);
            None
        }
        None => None,
    };
    let mut empty = Object::new();
    let currency = currency_in(payment.as_ref().unwrap_or(&empty), &o, src)?;
    out["customer"] = customer(&mut o, payment.as_mut().unwrap_or(&mut empty));
    let date = o.get("date").and_then(lenient_timestamp);

    // The plan: `new_plan` (an update), `subscription` (trials), the payment's product (paid),
    // `product` (canceled), or the crate's own `plan` (a string is a plan id).
    let (plan, previous) = if let Some(new_plan) = o.remove("new_plan") {
        let previous = o.remove("plan");
        (Some((new_plan, "new_plan")), previous.map(|p| (p, "plan")))
    } else if let Some(sub) = o.remove("subscription") {
        (Some((sub, "subscription")), None)
    } else if let Some(product) = payment.as_mut().and_then(|p| p.remove("product")) {
        (Some((product, "payment.product")), None)
    } else if let Some(product) = o.remove("product") {
        (Some((product, "product")), None)
    } else {
        (o.remove("plan").map(|p| (p, "plan")), None)
    };
    let mut courses = None;
    let plan = match plan {
        Some((Value::Object(mut p), path)) => {
            if let Some(Value::Object(mut products)) = p.remove("products") {
                courses = products.remove("courses");
                if !products.is_empty() {
                    p.insert("products".into(), Value::Object(products));
                }
            }
            let path: Vec<&str> = path.split('.').collect();
            Some(plan_in(p, src, currency, &path)?)
        }
        Some((Value::String(id), _)) => Some(json!({ "id": id })),
        Some((other, _)) => Some(other),
        None => None,
    };
    let previous = match previous {
        Some((Value::Object(p), path)) => Some(plan_in(p, src, currency, &[path])?),
        Some((Value::String(id), _)) => Some(json!({ "id": id })),
        Some((other, _)) => Some(other),
        None => None,
    };

    // LearnWorlds sends no subscription id: one subscription is one user on one plan.
    let id = o.remove("id").and_then(text).or_else(|| {
        let user = out["customer"].get("id").and_then(Value::as_str);
        let plan = plan
            .as_ref()
            .and_then(|p| p.get("id"))
            .and_then(Value::as_str);
        subscription_id(user, plan)
    });
    put(&mut out, "id", id);
    let trial_days = plan
        .as_ref()
        .and_then(|p| p.get("trial_days"))
        .and_then(Value::as_u64);
    put(&mut out, "plan", plan);
    put(&mut out, "previous_plan", previous);

    let status = match event_type {
        T::SalesSubscriptionTrialStarted | T::SalesSubscriptionTrialEnding => "trialing",
        T::SalesSubscriptionCanceled => "canceled",
        _ => "active",
    };
    if !o.contains_key("status") {
        out["status"] = json!(status);
    }
    if let Some(p) = payment.as_mut() {
        put(
            &mut out,
            "amount_paid",
            money(p.remove("price"), src, &["payment", "price"], currency)?,
        );
        put(
            &mut out,
            "installment",
            p.remove("payment_plan_current_payment")
                .filter(Value::is_u64),
        );
    }
    let at = |t: crate::Timestamp| json!(t);
    match (event_type, date) {
        (T::SalesSubscriptionTrialStarted, Some(d)) => {
            if let Some(days) = trial_days {
                put(
                    &mut out,
                    "trial_end",
                    d.checked_add(Duration::from_secs(days * 86_400)).map(at),
                );
            }
        }
        (T::SalesSubscriptionTrialEnding, Some(d)) => {
            put(
                &mut out,
                "trial_end",
                d.checked_add(Duration::from_secs(3 * 86_400)).map(at),
            );
        }
        (T::SalesSubscriptionCanceled, Some(d)) => out["canceled_at"] = at(d),
        _ => {}
    }
    if let Some(cancelled) = o.remove("cancelled_at") {
        match lenient_timestamp(&cancelled) {
            Some(t) => out["canceled_at"] = at(t),
            None if cancelled.is_null() => {}
            None => {
                o.insert("cancelled_at".into(), cancelled);
            }
        }
    }
    if let Some(action) = o.remove("action").and_then(text) {
        out["changed_by"] = json!(action);
    }
    if let Some(Value::Array(list)) = courses {
        let list: Vec<Value> = list
            .into_iter()
            .filter_map(text)
            .map(|id| json!({ "id": id }))
            .collect();
        out["courses"] = Value::Array(list);
    }
    if let Some(p) = payment {
        out["payment"] = Value::Object(p);
    }
    Ok(with_rest(out, o))
}

/// The amount of a payment: LearnWorlds' `price`, or an `amount` (major units, or the crate's
/// `{amount, currency}`).
fn payment_amount(
    pay: &mut Object,
    src: &Source<'_>,
    currency: Option<Currency>,
) -> Result<Option<Value>, String> {
    match pay.remove("price") {
        Some(price) => money(Some(price), src, &["payment", "price"], currency),
        None => money(pay.remove("amount"), src, &["payment", "amount"], currency),
    }
}

/// `"<user id>:<plan id>"`, the id this crate gives a LearnWorlds subscription.
fn subscription_id(user: Option<&str>, plan: Option<&str>) -> Option<String> {
    Some(format!("{}:{}", user?, plan?))
}

/// The customer: `data.customer`, `data.user`, or a person with the payment's `user_id`.
fn customer(o: &mut Object, pay: &mut Object) -> Value {
    let person = take_person(o, &["customer", "user"], false);
    if !person.is_null() {
        return person;
    }
    match pay.remove("user_id").and_then(text) {
        Some(id) => json!({ "id": id }),
        None => Value::Null,
    }
}

/// The currency of a body: the payment's `currency`/`currency_code`, `data`'s, the plan's, or
/// the profile's. `Err` when there are prices and no currency anywhere.
fn currency_in(pay: &Object, o: &Object, src: &Source<'_>) -> Result<Option<Currency>, String> {
    let code_in = |m: &Object| {
        ["currency", "currency_code"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_str).map(str::to_owned))
    };
    let plan_currency = ["new_plan", "plan", "subscription"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_object).and_then(&code_in));
    match code_in(pay).or_else(|| code_in(o)).or(plan_currency) {
        Some(code) => Currency::new(&code).map(Some).map_err(|e| e.to_string()),
        None => Ok(src.currency),
    }
}

/// A price as [`Money`] JSON: kept if already `{amount, currency}`; a number (or numeric text)
/// in major units is read from its text in the body at `path`.
fn money(
    value: Option<Value>,
    src: &Source<'_>,
    path: &[&str],
    currency: Option<Currency>,
) -> Result<Option<Value>, String> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Object(_)) => return Ok(Some(v)),
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => raw_at(src.raw_data(), path)
            .map(|raw| raw.get().to_owned())
            .unwrap_or_else(|| n.to_string()),
        Some(other) => return Err(format!("`{}` is not a price: {other}", path.join("."))),
    };
    let Some(currency) = currency else {
        return Err(format!(
            "`{}` is {text} with no currency in the body: set the school's currency on the \
             profile (`Profile::with_currency`)",
            path.join(".")
        ));
    };
    let money = Money::from_major(&text, currency).map_err(|e| e.to_string())?;
    Ok(Some(json!(money)))
}

/// The raw text of `data` at `path` (object keys only).
fn raw_at<'a>(raw: Option<&'a RawValue>, path: &[&str]) -> Option<&'a RawValue> {
    let mut here = raw?;
    for key in path {
        let map: std::collections::HashMap<std::borrow::Cow<'a, str>, &'a RawValue> =
            serde_json::from_str(here.get()).ok()?;
        here = *map.get(*key)?;
    }
    Some(here)
}

/// A product: `name` from `name` or `title`, `kind` from `type`, `price` from the list price
/// (`original_price`, else `price`, else `final_price`).
fn product_in(
    value: Value,
    src: &Source<'_>,
    currency: Option<Currency>,
    path: &[&str],
) -> Result<Value, String> {
    let Value::Object(mut p) = value else {
        return Ok(match text(value) {
            Some(id) => json!({ "id": id }),
            None => Value::Null,
        });
    };
    let mut out = json!({});
    put(&mut out, "id", p.remove("id").and_then(text));
    let name = p.remove("name").or_else(|| p.remove("title"));
    put(&mut out, "name", name.and_then(text));
    let kind = p.remove("kind").or_else(|| p.remove("type"));
    put(&mut out, "kind", kind.and_then(text));
    let price = list_price(&mut p, src, currency, path)?;
    put(&mut out, "price", price);
    put(&mut out, "quantity", p.remove("quantity"));
    Ok(with_rest(out, p))
}

/// [`product_in`] without prices, for products that carry none.
fn product_of(value: Value, src: &Source<'_>, path: &[&str]) -> Value {
    product_in(value.clone(), src, src.currency, path).unwrap_or(value)
}

fn plan_in(
    mut p: Object,
    src: &Source<'_>,
    currency: Option<Currency>,
    path: &[&str],
) -> Result<Value, String> {
    let mut out = json!({});
    put(&mut out, "id", p.remove("id").and_then(text));
    let name = p.remove("name").or_else(|| p.remove("title"));
    put(&mut out, "name", name.and_then(text));
    put(&mut out, "price", list_price(&mut p, src, currency, path)?);
    let interval = p.remove("interval_type").or_else(|| {
        p.get("interval")
            .is_some_and(Value::is_string)
            .then(|| p.remove("interval"))
            .flatten()
    });
    match interval.and_then(text).map(|s| s.to_ascii_lowercase()) {
        Some(unit) if ["day", "week", "month", "year"].contains(&unit.as_str()) => {
            out["interval"] = json!(unit);
        }
        Some(other) => {
            p.insert("interval_type".into(), json!(other));
        }
        None => {}
    }
    let count = p.remove("interval_count").or_else(|| {
        p.get("interval")
            .is_some_and(Value::is_u64)
            .then(|| p.remove("interval"))
            .flatten()
    });
    put(&mut out, "interval_count", count);
    let trial = p
        .remove("trial_days")
        .or_else(|| p.remove("trial_period_days"));
    put(&mut out, "trial_days", trial.filter(Value::is_u64));
    Ok(with_rest(out, p))
}

fn list_price(
    p: &mut Object,
    src: &Source<'_>,
    currency: Option<Currency>,
    path: &[&str],
) -> Result<Option<Value>, String> {
    for key in ["price", "original_price"] {
        if p.get(key).is_none_or(|v| v.is_null()) {
            continue;
        }
        let mut at = path.to_vec();
        at.push(key);
        // The crate's own `price` is already `{amount, currency}` and stays as it is.
        return money(p.remove(key), src, &at, currency);
    }
    if p.get("final_price").is_some_and(|v| !v.is_null()) {
        let mut at = path.to_vec();
        at.push("final_price");
        return money(p.get("final_price").cloned(), src, &at, currency);
    }
    Ok(None)
}

/// A course: `title` kept, everything else in `extra`.
fn course_of(value: Value) -> Value {
    match value {
        Value::Object(mut c) => {
            let mut out = json!({});
            put(&mut out, "id", c.remove("id").and_then(text));
            let title = c.remove("title").or_else(|| c.remove("name"));
            put(&mut out, "title", title.and_then(text));
            with_rest(out, c)
        }
        other => match text(other) {
            Some(id) => json!({ "id": id }),
            None => Value::Null,
        },
    }
}

/// A named reference: `name` from `name` or `title`.
fn named(value: Value) -> Value {
    let course = course_of(value);
    match course {
        Value::Object(mut c) => {
            if let Some(title) = c.remove("title") {
                c.entry("name").or_insert(title);
            }
            Value::Object(c)
        }
        other => other,
    }
}

/// Takes the person under the first of `keys` present (a nested `user.user` unwrapped); with
/// `flat`, a `data` with none of them is itself the person (all its fields but the request's
/// `ip_address`, `date` and `created_at`).
fn take_person(o: &mut Object, keys: &[&str], flat: bool) -> Value {
    for key in keys {
        if let Some(v) = o.remove(*key) {
            return person(v);
        }
    }
    if !flat {
        return Value::Null;
    }
    let mut fields = Object::new();
    let keep_outside = [
        "ip_address",
        "date",
        "created_at",
        "course_id",
        "course",
        "product",
    ];
    for key in o.keys().cloned().collect::<Vec<_>>() {
        if !keep_outside.contains(&key.as_str()) {
            if let Some(v) = o.remove(&key) {
                fields.insert(key, v);
            }
        }
    }
    person(Value::Object(fields))
}

/// A person in the crate's shape: `id`, `email`, names, `phone` and `country` (also from
/// LearnWorlds' `fields`), `tags`; LearnInk's `user_id` and `phone_number`; empty strings and
/// nulls dropped; the rest in `extra`.
fn person(value: Value) -> Value {
    let Value::Object(mut o) = value else {
        return match text(value) {
            Some(id) => json!({ "id": id }),
            None => Value::Null,
        };
    };
    // One LearnWorlds body nests the user once more under `user`.
    if o.len() == 1 {
        if let Some(Value::Object(inner)) = o.remove("user") {
            o = inner;
        }
    }
    let mut out = json!({});
    let id = o.remove("id").or_else(|| o.remove("user_id"));
    put(&mut out, "id", id.and_then(text));
    for key in ["email", "first_name", "last_name", "locale", "country"] {
        put(&mut out, key, o.remove(key).and_then(text));
    }
    let phone = o.remove("phone").or_else(|| o.remove("phone_number"));
    put(&mut out, "phone", phone.and_then(text));
    if let Some(Value::Object(fields)) = o.get_mut("fields") {
        for key in ["phone", "country"] {
            if out.get(key).is_none() {
                if let Some(v) = fields.get(key).cloned().and_then(text) {
                    fields.remove(key);
                    out[key] = json!(v);
                }
            }
        }
    }
    for key in ["tags", "lists"] {
        match o.remove(key) {
            Some(Value::Array(list)) => {
                let list: Vec<Value> = list.into_iter().filter_map(text).map(Value::from).collect();
                if !list.is_empty() {
                    out[key] = Value::Array(list);
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => {
                o.insert(key.into(), other);
            }
        }
    }
    with_rest(out, o)
}

/// Non-blank text, or a number's digits; anything else is no value.
fn text(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id: text, or the `id` of an object.
fn id_of(v: Value) -> Option<String> {
    match v {
        Value::Object(mut o) => o.remove("id").and_then(text),
        other => text(other),
    }
}

fn put(out: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let (Some(v), Value::Object(o)) = (value.map(Into::into), out) {
        if !v.is_null() {
            o.insert(key.to_owned(), v);
        }
    }
}

/// `out` with every field of `rest` it does not already have (they land in `extra`).
fn with_rest(mut out: Value, rest: Object) -> Value {
    if let Value::Object(o) = &mut out {
        for (key, value) in rest {
            o.entry(key).or_insert(value);
        }
    }
    out
}
