//! Purchases, payments, subscriptions and their money, as LearnWorlds sends them.

use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::event::{Currency, Money};
use crate::profile::layout::lenient_timestamp;
use crate::EventType;

use super::values::*;
use super::{Object, Source};

/// What a purchase and a payment share, read from `data.payment`: `id`, `customer`, `amount`,
/// `coupon` and `payment_method`, with the payment's other fields and its currency; `None`
/// when `data` has no payment object (the crate's own shape).
pub(super) fn payment_fields(
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

pub(super) fn purchase(mut o: Object, src: &Source<'_>) -> Result<Value, String> {
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

pub(super) fn payment(mut o: Object, src: &Source<'_>) -> Result<Value, String> {
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

pub(super) fn subscription(
    event_type: EventType,
    mut o: Object,
    src: &Source<'_>,
) -> Result<Value, String> {
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
pub(super) fn payment_amount(
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
pub(super) fn subscription_id(user: Option<&str>, plan: Option<&str>) -> Option<String> {
    Some(format!("{}:{}", user?, plan?))
}

/// The customer: `data.customer`, `data.user`, or a person with the payment's `user_id`.
pub(super) fn customer(o: &mut Object, pay: &mut Object) -> Value {
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
pub(super) fn currency_in(
    pay: &Object,
    o: &Object,
    src: &Source<'_>,
) -> Result<Option<Currency>, String> {
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
pub(super) fn money(
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
pub(super) fn raw_at<'a>(raw: Option<&'a RawValue>, path: &[&str]) -> Option<&'a RawValue> {
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
pub(super) fn product_in(
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
pub(super) fn product_of(value: Value, src: &Source<'_>, path: &[&str]) -> Value {
    product_in(value.clone(), src, src.currency, path).unwrap_or(value)
}

pub(super) fn plan_in(
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

pub(super) fn list_price(
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
