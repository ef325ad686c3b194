//! Enums between their three forms: the domain's Rust enum, its text in the database
//! ([`text_enum!`](crate::text_enum)), and its protobuf value ([`Table`]), for any proto
//! package.

use iop_core::Error;

/// An enum stored and sent as fixed lower-case text, with `as_str`, `parse` and `ALL`.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            #[allow(dead_code)]
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

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
    };
}

/// Pairs of protobuf and domain values of one enum, with lookups both ways. The protobuf
/// side is any prost enum (`P: Into<i32>`), so one table serves every proto package.
pub struct Table<P: 'static, D: 'static>(pub &'static [(P, D)]);

impl<P: Copy + Into<i32>, D: Copy + PartialEq> Table<P, D> {
    /// `None` for 0 (unspecified); an error naming `field` for an unknown value.
    pub fn domain(&self, value: i32, field: &str) -> Result<Option<D>, Error> {
        if value == 0 {
            return Ok(None);
        }
        self.0
            .iter()
            .find(|(p, _)| (*p).into() == value)
            .map(|(_, d)| Some(*d))
            .ok_or_else(|| Error::field(field, "is not a known value"))
    }

    /// The protobuf value of `value`; 0 (unspecified) if the table lacks it.
    pub fn proto(&self, value: D) -> i32 {
        self.0
            .iter()
            .find(|(_, d)| *d == value)
            .map_or(0, |(p, _)| (*p).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::text_enum! {
        enum Shade { Light = "light", Dark = "dark" }
    }

    #[derive(Clone, Copy)]
    enum Wire {
        Light = 1,
        Dark = 2,
    }

    impl From<Wire> for i32 {
        fn from(w: Wire) -> i32 {
            w as i32
        }
    }

    #[test]
    fn text_and_proto_round_trip() {
        for s in Shade::ALL {
            assert_eq!(Shade::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Shade::parse("Light"), None);
        let table = Table(&[(Wire::Light, Shade::Light), (Wire::Dark, Shade::Dark)]);
        assert_eq!(table.domain(2, "shade").unwrap(), Some(Shade::Dark));
        assert_eq!(table.domain(0, "shade").unwrap(), None);
        let err = table.domain(7, "shade").unwrap_err();
        assert_eq!(err.to_string(), "shade: is not a known value");
        assert_eq!(table.proto(Shade::Light), 1);
    }
}
