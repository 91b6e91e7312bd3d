//! Building blocks shared by many payloads: money, people, references to courses and products.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::BuildError;

/// Fields a payload does not model, kept in their JSON form.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A payload's JSON key, borrowed from the body when it has no escapes: the payloads read
/// their objects in one pass, each key either a field or kept in `extra`.
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Reads a payload field's value into `slot`; a field given twice is an error, as serde's
/// derived structs have it.
pub(crate) fn field<'de, A, T>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error>
where
    A: serde::de::MapAccess<'de>,
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(serde::de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// A value that may stand in a `required` payload field; strings must not be blank.
pub trait Required {
    /// Whether the value is empty in a way that counts as missing.
    fn is_blank(&self) -> bool {
        false
    }
}

impl Required for String {
    fn is_blank(&self) -> bool {
        self.trim().is_empty()
    }
}

impl Required for u32 {}
impl Required for u8 {}
impl Required for bool {}
impl Required for crate::Timestamp {}

/// The `build()` check for one required field.
pub(crate) fn required<T: Required>(
    value: Option<T>,
    payload: &'static str,
    field: &'static str,
) -> Result<T, BuildError> {
    match value {
        None => Err(BuildError::MissingField { payload, field }),
        Some(v) if v.is_blank() => Err(BuildError::EmptyField { payload, field }),
        Some(v) => Ok(v),
    }
}

/// An ISO 4217 currency code: three upper-case ASCII letters such as `EUR`.
///
/// # Examples
///
/// ```
/// use lms_webhooks::event::Currency;
///
/// assert_eq!(Currency::new("eur")?, Currency::EUR);
/// assert!(Currency::new("EURO").is_err());
/// # Ok::<(), lms_webhooks::BuildError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// United States dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");
    /// Canadian dollar.
    pub const CAD: Currency = Currency(*b"CAD");
    /// Swiss franc.
    pub const CHF: Currency = Currency(*b"CHF");
    /// Australian dollar.
    pub const AUD: Currency = Currency(*b"AUD");
    /// Japanese yen (no minor unit: amounts are whole yen).
    pub const JPY: Currency = Currency(*b"JPY");

    /// Parses a three-letter code; lower case is accepted and upper-cased.
    pub fn new(code: &str) -> Result<Currency, BuildError> {
        match code.as_bytes() {
            [a, b, c] if code.bytes().all(|x| x.is_ascii_alphabetic()) => Ok(Currency([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(BuildError::InvalidValue {
                payload: "Money",
                field: "currency",
                reason: format!(
                    "`{}` is not an ISO 4217 code (three letters, e.g. EUR)",
                    code.chars().take(16).collect::<String>()
                ),
            }),
        }
    }

    /// How many digits of minor units make one major unit (ISO 4217's exponent): 2 for most
    /// currencies (EUR, USD), 0 for JPY or KRW, 3 for BHD, KWD or TND, 4 for CLF.
    pub fn exponent(&self) -> u8 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }

    /// The code, e.g. `"EUR"`.
    pub fn as_str(&self) -> &str {
        // Always three ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = BuildError;
    fn from_str(s: &str) -> Result<Currency, BuildError> {
        Currency::new(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Three letters; lower case is read and upper-cased.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z]{3}$",
            "description": "An ISO 4217 currency code, e.g. EUR.",
            "examples": ["EUR", "USD", "JPY"],
        })
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::new(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in **minor units** (cents for EUR and USD, yen for JPY) with its ISO 4217
/// currency.
///
/// Money is never a float: `49.90 EUR` is `Money::new(4990, Currency::EUR)`, and travels as
/// `{"amount": 4990, "currency": "EUR"}`. Refunds and credit notes carry positive amounts; the
/// event type says which way the money went.
///
/// `Display` writes the minor units as stored (`4990 EUR`); [`Money::major`] writes the amount
/// in major units with the currency's exponent (`49.90 EUR`, `4990 JPY`).
///
/// # Examples
///
/// ```
/// use lms_webhooks::event::{Currency, Money};
///
/// let price = Money::new(4_990, Currency::EUR);
/// assert_eq!(price.amount, 4_990); // minor units: cents
/// assert_eq!(price.to_string(), "4990 EUR");
/// assert_eq!(price.major().to_string(), "49.90 EUR");
/// assert_eq!(Money::new(-5, Currency::EUR).major().to_string(), "-0.05 EUR");
/// assert_eq!(Money::new(4_990, Currency::new("JPY")?).major().to_string(), "4990 JPY");
/// # Ok::<(), lms_webhooks::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Money {
    /// The amount in minor units.
    pub amount: i64,
    /// The ISO 4217 currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in minor units of `currency`.
    pub const fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Reads an amount written in **major units** as decimal text (`"49.90"`, `"100"`,
    /// `"-0.5"`, `"1e2"`) into minor units of `currency`, in integers: the text is never turned
    /// into a float, so `"0.29"` is 29 cents exactly.
    ///
    /// Fails (with a [`BuildError::InvalidValue`]) on text that is not a decimal number, on more
    /// decimals than the currency has (`"49.999"` EUR, `"10.5"` JPY: trailing zeros are fine),
    /// and on amounts outside `i64`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lms_webhooks::event::{Currency, Money};
    ///
    /// assert_eq!(Money::from_major("49.90", Currency::EUR)?, Money::new(4_990, Currency::EUR));
    /// assert_eq!(Money::from_major("0.29", Currency::USD)?.amount, 29);
    /// assert_eq!(Money::from_major("4990", Currency::JPY)?.amount, 4_990);
    /// assert_eq!(Money::from_major("1.5e2", Currency::EUR)?.amount, 15_000);
    /// assert!(Money::from_major("49.999", Currency::EUR).is_err());
    /// assert!(Money::from_major("NaN", Currency::EUR).is_err());
    /// # Ok::<(), lms_webhooks::BuildError>(())
    /// ```
    pub fn from_major(text: &str, currency: Currency) -> Result<Money, BuildError> {
        let invalid = |reason: String| BuildError::InvalidValue {
            payload: "Money",
            field: "amount",
            reason,
        };
        let shown: String = text.chars().take(32).collect();
        let amount = major_to_minor(text.trim(), currency.exponent()).map_err(|why| {
            invalid(format!(
                "`{shown}` is not an amount of {currency} in major units: {why}"
            ))
        })?;
        Ok(Money::new(amount, currency))
    }

    /// Displays the amount in major units, with as many decimals as the currency has
    /// (`49.90 EUR`), computed in integers: no float rounding.
    pub fn major(&self) -> MajorUnits {
        MajorUnits(*self)
    }
}

/// Decimal text in major units to minor units: `[-+]digits[.digits][(e|E)[-+]digits]`.
fn major_to_minor(text: &str, exponent: u8) -> Result<i64, &'static str> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, power) = match rest.find(['e', 'E']) {
        Some(at) => {
            let power: i32 = rest[at + 1..]
                .parse()
                .map_err(|_| "the exponent is not a number")?;
            (&rest[..at], power)
        }
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err("not a decimal number");
    }
    // The value is `digits * 10^(power - fraction.len())` major units; scale to minor units.
    let scale = i64::from(power) - fraction.len() as i64 + i64::from(exponent);
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let (significant, scale) = if scale >= 0 {
        (digits, scale)
    } else {
        let cut = (-scale) as usize;
        let keep = digits.len().saturating_sub(cut);
        let dropped = &digits[keep..];
        if dropped.bytes().any(|b| b != b'0') {
            return Err("more decimals than the currency has");
        }
        (&digits[..keep], 0)
    };
    if significant.is_empty() {
        return Ok(0);
    }
    let too_large = "out of range";
    if significant.len() as i64 + scale > 19 {
        return Err(too_large);
    }
    let mut amount: i128 = significant.parse().map_err(|_| too_large)?;
    amount *= 10i128.pow(scale as u32);
    if negative {
        amount = -amount;
    }
    i64::try_from(amount).map_err(|_| too_large)
}

/// [`Money`] displayed in major units: see [`Money::major`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MajorUnits(Money);

impl fmt::Display for MajorUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Money { amount, currency } = self.0;
        let exponent = u32::from(currency.exponent());
        let sign = if amount < 0 { "-" } else { "" };
        let minor = amount.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{minor} {currency}");
        }
        let unit = 10u64.pow(exponent);
        let width = exponent as usize;
        write!(
            f,
            "{sign}{}.{:0width$} {currency}",
            minor / unit,
            minor % unit
        )
    }
}

impl Required for Money {}
impl Required for Currency {}

impl fmt::Display for Money {
    /// Minor units and code, e.g. `4990 EUR`: the crate does not know each currency's exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

fn person_has_identity(p: &Person) -> Result<(), BuildError> {
    let filled = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if filled(&p.id) || filled(&p.email) {
        Ok(())
    } else {
        Err(BuildError::InvalidValue {
            payload: "Person",
            field: "id",
            reason: "a person needs an `id` or an `email`".to_owned(),
        })
    }
}

payload! {
    /// A person: a customer, contact, learner, registrant, member or affiliate.
    ///
    /// At least one of `id` and `email` is required; CRMs match on `email`, the platform on `id`.
    pub struct Person / PersonBuilder {
        required {}
        optional {
            /// The platform's user or contact id.
            id: String,
            /// The e-mail address.
            email: String,
            /// Given name.
            first_name: String,
            /// Family name.
            last_name: String,
            /// Phone number, preferably E.164 (`+33612345678`).
            phone: String,
            /// Preferred language as a BCP 47 tag (`fr-FR`).
            locale: String,
            /// Country as ISO 3166-1 alpha-2 (`FR`).
            country: String,
        }
        lists {
            /// The contact's tags.
            tags: String,
            /// The mailing lists the contact is on.
            lists: String,
        }
        check person_has_identity;
    }
}

payload! {
    /// A reference to a named thing: a list, sequence, quiz, section, community, funnel...
    pub struct NamedRef / NamedRefBuilder {
        required {
            /// The platform's id.
            id: String,
        }
        optional {
            /// Its human-readable name.
            name: String,
        }
        lists {}
    }
}

payload! {
    /// A course (or a learning program, where the event says so).
    pub struct Course / CourseBuilder {
        required {
            /// The platform's course id.
            id: String,
        }
        optional {
            /// The course title.
            title: String,
            /// The course page.
            url: String,
        }
        lists {}
    }
}

payload! {
    /// A product as sold: a course, bundle, subscription plan, coaching, physical good...
    pub struct Product / ProductBuilder {
        required {
            /// The platform's product id.
            id: String,
        }
        optional {
            /// The product name.
            name: String,
            /// What kind of product (`course`, `bundle`, `subscription`...), as the platform says it.
            kind: String,
            /// The list price.
            price: Money,
            /// How many were bought.
            quantity: u32,
        }
        lists {}
    }
}
