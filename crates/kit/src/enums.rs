//! Enums between their forms — the Rust enum, its fixed text (database column, JSON) and its
//! protobuf value — declared once with [`text_enum!`](crate::text_enum), for any proto
//! package, by the gateway and the services alike.

use iop_core::Error;

/// An enum stored and sent as fixed lower-case text, with `as_str`, `parse` and `ALL`.
///
/// `enum Name: path::to::ProtoEnum { … }` also converts to and from that protobuf enum, whose
/// variants must carry the same names (`to_proto`, `from_proto`, `from_proto_field`); its
/// unspecified value (0) maps to `None` unless a variant of that name is listed.
///
/// A leading `json` makes it the enum of a JSON body: serde reads and writes the same text and
/// its OpenAPI schema lists it, described by its doc comment (the caller depends on `serde`
/// and `utoipa`; only doc comments may precede the enum and its variants).
#[macro_export]
macro_rules! text_enum {
    (json $(#[doc = $doc:literal])* $vis:vis enum $name:ident $(: $proto:path)? {
        $($(#[doc = $vdoc:literal])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $crate::text_enum! {
            @enum
            [$(#[doc = $doc])* #[derive(::serde::Serialize, ::serde::Deserialize)]]
            $vis $name $(: $proto)? { $([$(#[doc = $vdoc])* #[serde(rename = $text)]] $variant = $text),+ }
        }

        // Written out rather than derived: the derive does not see a `rename` that a macro
        // passes it, and would list the variants' Rust names.
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                use ::utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
                let doc: &[&str] = &[$($doc),*];
                let doc = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .enum_values(Some([$($text),+]))
                    .description((!doc.is_empty()).then_some(doc))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {}
    };
    ($(#[$meta:meta])* $vis:vis enum $name:ident $(: $proto:path)? {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $crate::text_enum! {
            @enum [$(#[$meta])*] $vis $name $(: $proto)? { $([$(#[$vmeta])*] $variant = $text),+ }
        }
    };
    (@enum [$($meta:tt)*] $vis:vis $name:ident $(: $proto:path)? {
        $([$($vmeta:tt)*] $variant:ident = $text:literal),+
    }) => {
        $($meta)*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($($vmeta)* $variant),+
        }

        impl $name {
            #[allow(dead_code)]
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            #[allow(dead_code)]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            #[allow(dead_code)]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        $crate::text_enum!(@proto $name $(: $proto)? { $($variant),+ });
    };
    (@proto $name:ident { $($variant:ident),+ }) => {};
    (@proto $name:ident: $proto:path { $($variant:ident),+ }) => {
        impl $name {
            #[allow(dead_code)]
            pub fn to_proto(self) -> i32 {
                type Proto = $proto;
                match self {
                    $(Self::$variant => Proto::$variant as i32),+
                }
            }

            /// `None` for a value no variant has (the unspecified one, or one from a newer
            /// peer).
            #[allow(dead_code)]
            pub fn from_proto(value: i32) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.to_proto() == value)
            }

            /// As [`Self::from_proto`], but a value that is neither known nor unspecified is an
            /// error naming `field`.
            #[allow(dead_code)]
            pub fn from_proto_field(
                value: i32,
                field: &str,
            ) -> Result<Option<Self>, $crate::iop_core::Error> {
                $crate::enums::known(Self::from_proto(value), value, field)
            }
        }
    };
}

/// Every value of a repeated enum field (`field[i]` in errors), each required: none may be
/// unspecified. `from_proto` is a `text_enum!`'s `from_proto_field`.
pub fn each<D>(
    values: &[i32],
    field: &str,
    from_proto: fn(i32, &str) -> Result<Option<D>, Error>,
) -> Result<Vec<D>, Error> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("{field}[{i}]");
            from_proto(*v, &at)?.ok_or_else(|| Error::field(at, "must not be unspecified"))
        })
        .collect()
}

#[doc(hidden)]
pub fn known<T>(found: Option<T>, value: i32, field: &str) -> Result<Option<T>, Error> {
    match found {
        Some(v) => Ok(Some(v)),
        None if value == 0 => Ok(None),
        None => Err(Error::field(field, "is not a known value")),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Clone, Copy)]
    #[allow(dead_code)]
    enum Wire {
        Unspecified = 0,
        Light = 1,
        Dark = 2,
    }

    crate::text_enum! {
        enum Shade: Wire { Light = "light", Dark = "dark" }
    }

    crate::text_enum! {
        enum Plain { OneWord = "one_word" }
    }

    #[test]
    fn text_and_proto_round_trip() {
        for s in Shade::ALL {
            assert_eq!(Shade::parse(s.as_str()), Some(*s));
            assert_eq!(Shade::from_proto(s.to_proto()), Some(*s));
        }
        assert_eq!(Shade::parse("Light"), None);
        assert_eq!(
            Shade::from_proto_field(2, "shade").unwrap(),
            Some(Shade::Dark)
        );
        assert_eq!(Shade::from_proto_field(0, "shade").unwrap(), None);
        let err = Shade::from_proto_field(7, "shade").unwrap_err();
        assert_eq!(err.to_string(), "shade: is not a known value");
        assert_eq!(Shade::Light.to_proto(), 1);
        assert_eq!(Plain::parse("one_word"), Some(Plain::OneWord));
        assert_eq!(
            super::each(&[2, 1], "shades", Shade::from_proto_field).unwrap(),
            [Shade::Dark, Shade::Light]
        );
        let err = super::each(&[1, 0], "shades", Shade::from_proto_field).unwrap_err();
        assert_eq!(err.to_string(), "shades[1]: must not be unspecified");
    }
}
