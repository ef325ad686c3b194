//! The kinds of free text every service keeps, each a rule in one place: the service checks
//! a value with [`Violations::text`](crate::Violations::text), and the gateway publishes the
//! same rule as the JSON Schema of the field ([`Rule::pattern`], [`Rule::max`]).

/// How long a text may be, whether it may span lines, and whether it must say something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// At most this many characters (Unicode scalar values, as JSON Schema's `maxLength`).
    pub max: usize,
    /// Line breaks and tabs allowed (other control characters never are).
    pub multiline: bool,
    /// Must hold something besides whitespace.
    pub required: bool,
}

/// A name of a person, program, organization or group: one line, not blank.
pub const NAME: Rule = Rule {
    max: 200,
    multiline: false,
    required: true,
};
/// A short optional text: a middle name, a role, a frequency, a title.
pub const TEXT: Rule = Rule {
    max: 200,
    multiline: false,
    required: false,
};
/// A very short text: pronouns.
pub const LABEL: Rule = Rule {
    max: 50,
    multiline: false,
    required: false,
};
/// A code: a postal code.
pub const CODE: Rule = Rule {
    max: 20,
    multiline: false,
    required: false,
};
/// An email address's length and characters (its shape is checked apart).
pub const EMAIL: Rule = Rule {
    max: 254,
    multiline: false,
    required: false,
};
/// A longer single line: an address line, a reason.
pub const LINE: Rule = Rule {
    max: 500,
    multiline: false,
    required: false,
};
/// A paragraph: a problem, goal or objective of a plan, a progress note.
pub const PARAGRAPH: Rule = Rule {
    max: 1000,
    multiline: true,
    required: false,
};
/// A narrative: a referral's reason, a decision, a discharge note, a revocation.
pub const NARRATIVE: Rule = Rule {
    max: 4000,
    multiline: true,
    required: false,
};
/// A narrative that must say something: a referral's reason, why it was declined, what was
/// done about a safety flag.
pub const STATEMENT: Rule = Rule {
    max: 4000,
    multiline: true,
    required: true,
};
/// A late entry that must say something: an addendum to a signed note.
pub const ADDENDUM: Rule = Rule {
    max: 20_000,
    multiline: true,
    required: true,
};
/// A whole document: the body of a clinical note.
pub const DOCUMENT: Rule = Rule {
    max: 100_000,
    multiline: true,
    required: false,
};

/// Every rule, for tests and the gateway's schema check.
pub const ALL: [Rule; 11] = [
    NAME, TEXT, LABEL, CODE, EMAIL, LINE, PARAGRAPH, NARRATIVE, STATEMENT, ADDENDUM, DOCUMENT,
];

/// Control characters as `char::is_control` sees them (Unicode category Cc).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// The same, less tab, line feed and carriage return.
const CONTROL_BUT_BREAKS: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";

impl Rule {
    /// The first rule `value` breaks, as a field violation's description.
    pub fn check(self, value: &str) -> Option<String> {
        if self.required && value.trim().is_empty() {
            return Some("is required".into());
        }
        if value.chars().count() > self.max {
            return Some(format!("must be at most {} characters", self.max));
        }
        let allowed =
            |c: char| !c.is_control() || (self.multiline && matches!(c, '\n' | '\r' | '\t'));
        if !value.chars().all(allowed) {
            return Some("must not contain control characters".into());
        }
        None
    }

    /// The ECMA-262 / Python regular expression a value of this rule matches.
    pub fn pattern(self) -> String {
        let bad = if self.multiline {
            CONTROL_BUT_BREAKS
        } else {
            CONTROL
        };
        if self.required {
            format!(r"^[^{bad}]*[^\s{bad}][^{bad}]*$")
        } else {
            format!(r"^[^{bad}]*$")
        }
    }

    /// JSON Schema's `minLength`: 1 for a required text.
    pub fn min(self) -> usize {
        usize::from(self.required)
    }
}

/// A phone number: 7 to 15 digits, optionally after `+`, with spaces, dashes, dots and
/// parentheses between them.
pub fn is_phone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let count = digits.bytes().filter(u8::is_ascii_digit).count();
    (7..=15).contains(&count)
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b" -().".contains(&b))
}
pub const PHONE_PATTERN: &str = r"^\+?[ ().\-]*(?:[0-9][ ().\-]*){7,15}$";

/// A phone number, or a short code of 3 to 6 digits (988, a crisis line).
pub fn is_phone_or_short_code(s: &str) -> bool {
    is_phone(s) || ((3..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
}
pub const PHONE_OR_SHORT_CODE_PATTERN: &str =
    r"^(?:[0-9]{3,6}|\+?[ ().\-]*(?:[0-9][ ().\-]*){7,15})$";

/// An email address as far as a clinic needs to know: `local@domain`, a dot inside the
/// domain, no spaces or control characters, at most 254 characters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.chars().count() <= EMAIL.max
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}
pub const EMAIL_PATTERN: &str = r"^[^\s@\u0000-\u001F\u007F-\u009F]+@[^\s@.\u0000-\u001F\u007F-\u009F][^\s@\u0000-\u001F\u007F-\u009F]*\.[^\s@\u0000-\u001F\u007F-\u009F]*[^\s@.\u0000-\u001F\u007F-\u009F]$";

/// An https link someone joins or opens (a telehealth room): `https://`, a host, no spaces
/// or control characters, at most 2,000 characters.
pub fn is_https_url(s: &str) -> bool {
    s.chars().count() <= 2000
        && s.strip_prefix("https://").is_some_and(|rest| {
            rest.chars().next().is_some_and(|c| c != '/')
                && rest.chars().all(|c| !c.is_whitespace() && !c.is_control())
        })
}
pub const HTTPS_URL_PATTERN: &str =
    r"^https://[^/\s\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]{0,1991}$";

/// An ISO 3166-1 alpha-2 country code (`US`), or empty for none.
pub fn is_country(s: &str) -> bool {
    s.is_empty() || (s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()))
}
pub const COUNTRY_PATTERN: &str = r"^(?:[A-Z]{2})?$";

/// Whether `npi` is a National Provider Identifier: 10 digits whose last is the Luhn check
/// digit of the other nine prefixed with 80840 (CMS, "Requirements for NPI Check Digit").
pub fn is_npi(npi: &str) -> bool {
    if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = "80840"
        .bytes()
        .chain(npi.bytes())
        .map(|b| u32::from(b - b'0'))
        .collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The shape of an NPI a schema can say (the check digit it cannot).
pub const NPI_PATTERN: &str = r"^[0-9]{10}$";

/// The longest medical record number, and identifier system or value (characters).
pub const MRN_MAX: usize = 64;
pub const IDENTIFIER_MAX: usize = 255;

/// An identifier (an MRN, an identifier's value): 1 to `max` characters, no control
/// characters, no surrounding whitespace.
pub fn is_identifier(s: &str, max: usize) -> bool {
    !s.is_empty() && s.trim() == s && s.chars().count() <= max && !s.chars().any(char::is_control)
}
pub const IDENTIFIER_PATTERN: &str = r"^[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?$";
/// An identifier's system (a URI-like namespace): as [`is_identifier`], without `|`.
pub fn is_identifier_system(s: &str, max: usize) -> bool {
    is_identifier(s, max) && !s.contains('|')
}
pub const IDENTIFIER_SYSTEM_PATTERN: &str = r"^[^\s|\u0000-\u001F\u007F-\u009F](?:[^|\u0000-\u001F\u007F-\u009F]*[^\s|\u0000-\u001F\u007F-\u009F])?$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_say_what_breaks() {
        assert_eq!(NAME.check("  ").as_deref(), Some("is required"));
        assert_eq!(NAME.check("Ana"), None);
        assert_eq!(
            NAME.check("A\nna").as_deref(),
            Some("must not contain control characters")
        );
        assert_eq!(PARAGRAPH.check("line 1\nline 2\ttab"), None);
        assert_eq!(
            PARAGRAPH.check("bell\u{7}").as_deref(),
            Some("must not contain control characters")
        );
        assert_eq!(
            PARAGRAPH.check("\u{85}").as_deref(),
            Some("must not contain control characters")
        );
        assert_eq!(TEXT.check(&"é".repeat(200)), None);
        assert_eq!(
            TEXT.check(&"é".repeat(201)).as_deref(),
            Some("must be at most 200 characters")
        );
        assert_eq!(TEXT.check(""), None);
    }

    #[test]
    fn npis_carry_the_cms_check_digit() {
        assert!(is_npi("1234567893"));
        assert!(!is_npi("1234567890"));
        assert!(!is_npi("123456789"));
        assert!(!is_npi("12345678a3"));
        let shape = regex::Regex::new(NPI_PATTERN).unwrap();
        assert!(shape.is_match("1234567893") && !shape.is_match("123456789"));
    }

    #[test]
    fn shapes_and_their_patterns_agree() {
        let cases = [
            "+1 (503) 555-0142",
            "5035550142",
            "555-0142",
            "988",
            "12",
            "call me",
            "+",
            "",
            "1234567890123456",
            "+1.503.555.0142",
            "a@b.c",
            "a@b",
            "@b.c",
            "a@.b",
            "a@b.",
            "a b@c.d",
            "a@b@c.d",
            "a@b..c",
            "é@ü.de",
            "a\u{1}@b.c",
            "MRN-0042",
            " MRN",
            "MRN ",
            "M\tR",
            "x",
            "https://meet.example.com/r/42",
            "https://",
            "https:///x",
            "http://meet.example.com",
            "https://meet example.com",
        ];
        let phone = regex::Regex::new(PHONE_PATTERN).unwrap();
        let short = regex::Regex::new(PHONE_OR_SHORT_CODE_PATTERN).unwrap();
        let email = regex::Regex::new(EMAIL_PATTERN).unwrap();
        let ident = regex::Regex::new(IDENTIFIER_PATTERN).unwrap();
        let system = regex::Regex::new(IDENTIFIER_SYSTEM_PATTERN).unwrap();
        let country = regex::Regex::new(COUNTRY_PATTERN).unwrap();
        let https = regex::Regex::new(HTTPS_URL_PATTERN).unwrap();
        for c in cases {
            assert_eq!(is_https_url(c), https.is_match(c), "https {c:?}");
            assert_eq!(is_phone(c), phone.is_match(c), "phone {c:?}");
            assert_eq!(is_phone_or_short_code(c), short.is_match(c), "short {c:?}");
            assert_eq!(is_email(c), email.is_match(c), "email {c:?}");
            assert_eq!(is_identifier(c, 64), ident.is_match(c), "identifier {c:?}");
            assert_eq!(
                is_identifier_system(c, 64),
                system.is_match(c),
                "system {c:?}"
            );
            assert_eq!(is_country(c), country.is_match(c), "country {c:?}");
        }
        assert!(is_phone("+1 (503) 555-0142") && is_phone_or_short_code("988"));
        assert!(is_email("a@b.c") && !is_email("a@b"));
    }

    /// The published pattern, run by a real regex engine, accepts exactly what `check`
    /// accepts, character by character (lengths aside): a client or fuzzer that follows the
    /// schema is never refused, and one that breaks it always is.
    #[test]
    fn the_published_pattern_agrees_with_the_check() {
        let probes: Vec<char> = (0u32..0x300)
            .chain([
                0x1680, 0x2000, 0x2028, 0x2029, 0x202F, 0x3000, 0xFEFF, 0x1F600,
            ])
            .filter_map(char::from_u32)
            .collect();
        for rule in ALL {
            let pattern = regex::Regex::new(&rule.pattern()).unwrap();
            for &c in &probes {
                for value in [
                    c.to_string(),
                    format!("a{c}"),
                    format!("{c}a"),
                    format!(" {c} "),
                ] {
                    let by_check = rule.check(&value).is_none();
                    assert_eq!(by_check, pattern.is_match(&value), "{rule:?} {value:?}");
                }
            }
        }
    }
}
