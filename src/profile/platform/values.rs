//! The small readers the mappings share: people, courses, names, texts and ids.

use serde_json::{json, Value};

use super::Object;

/// A course: `title` kept, everything else in `extra`.
pub(super) fn course_of(value: Value) -> Value {
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
pub(super) fn named(value: Value) -> Value {
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
pub(super) fn take_person(o: &mut Object, keys: &[&str], flat: bool) -> Value {
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
pub(super) fn person(value: Value) -> Value {
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
pub(super) fn text(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id: text, or the `id` of an object.
pub(super) fn id_of(v: Value) -> Option<String> {
    match v {
        Value::Object(mut o) => o.remove("id").and_then(text),
        other => text(other),
    }
}

pub(super) fn put(out: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let (Some(v), Value::Object(o)) = (value.map(Into::into), out) {
        if !v.is_null() {
            o.insert(key.to_owned(), v);
        }
    }
}

/// `out` with every field of `rest` it does not already have (they land in `extra`).
pub(super) fn with_rest(mut out: Value, rest: Object) -> Value {
    if let Value::Object(o) = &mut out {
        for (key, value) in rest {
            o.entry(key).or_insert(value);
        }
    }
    out
}
