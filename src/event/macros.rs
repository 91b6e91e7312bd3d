//! The two macros that keep the payload types uniform: every payload has the same serde rules,
//! the same `extra` map and the same by-value builder, so they are written once here.

/// Declares a payload struct, its serde rules and its builder.
///
/// - `required` fields must be set before `build()` (strings must also be non-blank);
/// - `optional` fields are `Option<T>`, skipped in JSON when absent;
/// - `lists` are `Vec<T>`, skipped in JSON when empty;
/// - every payload gets `extra`, a flattened map that keeps the fields this crate does not model;
/// - `check path;` names a function run on the finished value for rules across fields.
macro_rules! payload {
    (
        $(#[$meta:meta])*
        pub struct $name:ident / $builder:ident {
            required { $( $(#[$rmeta:meta])* $rfield:ident : $rty:ty ),* $(,)? }
            optional { $( $(#[$ometa:meta])* $ofield:ident : $oty:ty ),* $(,)? }
            lists { $( $(#[$lmeta:meta])* $lfield:ident : $lty:ty ),* $(,)? }
            $( check $check:path; )?
        }
    ) => {
        $(#[$meta])*
        ///
        #[doc = concat!("Build one with [`", stringify!($name), "::builder`]; fields the crate does")]
        /// not model are kept in `extra`, so nothing a platform sends is lost.
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$rmeta])* pub $rfield: $rty, )*
            $(
                $(#[$ometa])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $ofield: Option<$oty>,
            )*
            $(
                $(#[$lmeta])*
                #[serde(default, skip_serializing_if = "Vec::is_empty")]
                pub $lfield: Vec<$lty>,
            )*
            /// Platform-specific fields this crate does not model, kept as they were sent.
            #[serde(flatten)]
            pub extra: $crate::event::Extra,
        }

        // Read in one pass: each key is a field or goes to `extra` (serde's derive with a
        // flattened map buffers the whole object first, then reads every field from the
        // buffer). The same rules as the derive: required fields must be there, optional ones
        // may be absent or null, lists absent, a field given twice is an error.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($name)))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        $( let mut $rfield: Option<$rty> = None; )*
                        $( let mut $ofield: Option<Option<$oty>> = None; )*
                        $( let mut $lfield: Option<Vec<$lty>> = None; )*
                        let mut extra = $crate::event::Extra::new();
                        while let Some(key) = map.next_key::<$crate::event::common::Key<'de>>()? {
                            match key.as_str() {
                                $( stringify!($rfield) => $crate::event::common::field(
                                    &mut map, &mut $rfield, stringify!($rfield))?, )*
                                $( stringify!($ofield) => $crate::event::common::field(
                                    &mut map, &mut $ofield, stringify!($ofield))?, )*
                                $( stringify!($lfield) => $crate::event::common::field(
                                    &mut map, &mut $lfield, stringify!($lfield))?, )*
                                _ => {
                                    let value = map.next_value::<serde_json::Value>()?;
                                    extra.insert(key.into_string(), value);
                                }
                            }
                        }
                        Ok($name {
                            $( $rfield: $rfield.ok_or_else(|| {
                                <A::Error as serde::de::Error>::missing_field(stringify!($rfield))
                            })?, )*
                            $( $ofield: $ofield.flatten(), )*
                            $( $lfield: $lfield.unwrap_or_default(), )*
                            extra,
                        })
                    }
                }
                deserializer.deserialize_map(Visitor)
            }
        }

        impl $name {
            #[doc = concat!("Starts a [`", stringify!($builder), "`].")]
            pub fn builder() -> $builder {
                $builder::default()
            }
        }

        impl $crate::event::common::Required for $name {}

        #[doc = concat!("Builds a [`", stringify!($name), "`] field by field; `build()` checks")]
        /// the required fields and returns a [`BuildError`](crate::BuildError) instead of panicking.
        #[derive(Debug, Clone, Default)]
        #[must_use]
        pub struct $builder {
            $( $rfield: Option<$rty>, )*
            $( $ofield: Option<$oty>, )*
            $( $lfield: Vec<$lty>, )*
            extra: $crate::event::Extra,
        }

        impl $builder {
            $(
                $(#[$rmeta])*
                pub fn $rfield(mut self, value: impl Into<$rty>) -> Self {
                    self.$rfield = Some(value.into());
                    self
                }
            )*
            $(
                $(#[$ometa])*
                pub fn $ofield(mut self, value: impl Into<$oty>) -> Self {
                    self.$ofield = Some(value.into());
                    self
                }
            )*
            $(
                $(#[$lmeta])*
                ///
                /// Appends to what was set before.
                pub fn $lfield(mut self, values: impl IntoIterator<Item = impl Into<$lty>>) -> Self {
                    self.$lfield.extend(values.into_iter().map(Into::into));
                    self
                }
            )*

            /// Adds a platform-specific field, kept in `extra`.
            pub fn extra(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
                self.extra.insert(key.into(), value.into());
                self
            }

            #[doc = concat!("Checks the required fields and returns the [`", stringify!($name), "`].")]
            pub fn build(self) -> Result<$name, $crate::BuildError> {
                let value = $name {
                    $(
                        $rfield: $crate::event::common::required(
                            self.$rfield,
                            stringify!($name),
                            stringify!($rfield),
                        )?,
                    )*
                    $( $ofield: self.$ofield, )*
                    $( $lfield: self.$lfield, )*
                    extra: self.extra,
                };
                $( $check(&value)?; )?
                Ok(value)
            }
        }
    };
}

/// Declares an open string enum: known values as variants, anything else kept in `Other`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        ///
        /// Values this crate does not know arrive as `Other` with the text as sent; build values
        #[doc = concat!("with `", stringify!($name), "::from(\"...\")` so known text maps to its variant.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept as it was sent.
            Other(String),
        }

        impl $name {
            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::from(text.as_str()))
            }
        }

        impl $crate::event::common::Required for $name {}

        /// Any string: the known values are listed as `examples` (others are kept as sent).
        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "examples": [ $( $wire, )+ ],
                })
            }
        }
    };
}
