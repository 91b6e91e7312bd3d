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

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::layout::lenient_timestamp;
use crate::event::Currency;
use crate::EventType;

mod sales;
mod values;

use sales::*;
use values::*;

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
