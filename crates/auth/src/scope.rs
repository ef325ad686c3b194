//! SMART on FHIR scopes: v2 (`user/Patient.rs`, `system/*.cruds`) and the v1 forms
//! (`user/Patient.read`, `.write`, `.*`). A scope we cannot fully honour — an unknown
//! context, permissions out of order, or a `?query` restriction we do not enforce — grants
//! nothing, rather than more than it says.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Acting for a staff user (clinic front ends, SSO tokens).
    User,
    /// A backend system acting for itself (EHR integrations, partners).
    System,
}

/// What a scope allows; one flag per SMART v2 letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub search: bool,
}

impl Perms {
    /// Parses `cruds`-style letters, which must come in that order without repeats.
    pub fn parse_letters(letters: &str) -> Option<Self> {
        let mut perms = Self::default();
        let mut last = None::<usize>;
        for c in letters.chars() {
            let pos = "cruds".find(c)?;
            if last.is_some_and(|l| pos <= l) {
                return None;
            }
            last = Some(pos);
            match c {
                'c' => perms.create = true,
                'r' => perms.read = true,
                'u' => perms.update = true,
                'd' => perms.delete = true,
                _ => perms.search = true,
            }
        }
        last.map(|_| perms)
    }

    pub fn allows(self, letter: char) -> bool {
        match letter {
            'c' => self.create,
            'r' => self.read,
            'u' => self.update,
            'd' => self.delete,
            's' => self.search,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// `None` for `*`.
    pub resource: Option<String>,
    pub perms: Perms,
}

impl Scope {
    /// `None` when the scope is not a resource scope we understand (e.g. `openid`,
    /// `launch`, `patient/…`), so it grants nothing.
    pub fn parse(s: &str) -> Option<Self> {
        let (context, rest) = s.split_once('/')?;
        let context = match context {
            "user" => Context::User,
            "system" => Context::System,
            _ => return None,
        };
        if rest.contains('?') {
            return None;
        }
        let (resource, perms) = rest.rsplit_once('.')?;
        let perms = match perms {
            "read" => Perms {
                read: true,
                search: true,
                ..Perms::default()
            },
            "write" => Perms {
                create: true,
                update: true,
                delete: true,
                ..Perms::default()
            },
            "*" => Perms {
                create: true,
                read: true,
                update: true,
                delete: true,
                search: true,
            },
            letters => Perms::parse_letters(letters)?,
        };
        let valid_name = |r: &str| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric());
        let resource = match resource {
            "*" => None,
            r if valid_name(r) => Some(r.to_owned()),
            _ => return None,
        };
        Some(Self {
            context,
            resource,
            perms,
        })
    }

    /// Does this scope allow `letter` (one of `cruds`) on `resource` in `context`?
    pub fn grants(&self, context: Context, resource: &str, letter: char) -> bool {
        self.context == context
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self.perms.allows(letter)
    }
}

impl Scope {
    /// Does this scope allow everything `other` asks for (same context, same or any
    /// resource, at least the same permissions)?
    pub fn covers(&self, other: &Scope) -> bool {
        self.context == other.context
            && (self.resource.is_none() || self.resource == other.resource)
            && "cruds"
                .chars()
                .all(|l| !other.perms.allows(l) || self.perms.allows(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_scopes() {
        let s = Scope::parse("user/Patient.rs").unwrap();
        assert!(s.grants(Context::User, "Patient", 'r'));
        assert!(s.grants(Context::User, "Patient", 's'));
        assert!(!s.grants(Context::User, "Patient", 'u'));
        assert!(!s.grants(Context::System, "Patient", 'r'));
        assert!(!s.grants(Context::User, "Appointment", 'r'));
        let all = Scope::parse("system/*.cruds").unwrap();
        assert!(all.grants(Context::System, "Appointment", 'd'));
    }

    #[test]
    fn covering() {
        let p = |s| Scope::parse(s).unwrap();
        assert!(p("system/*.rs").covers(&p("system/Patient.r")));
        assert!(p("system/Patient.cruds").covers(&p("system/Patient.rs")));
        assert!(!p("system/Patient.rs").covers(&p("system/Patient.u")));
        assert!(!p("system/Patient.rs").covers(&p("system/*.r")));
        assert!(!p("user/*.cruds").covers(&p("system/Patient.r")));
    }

    #[test]
    fn v1_scopes() {
        assert!(
            Scope::parse("user/Patient.read")
                .unwrap()
                .grants(Context::User, "Patient", 's')
        );
        assert!(
            !Scope::parse("user/Patient.read")
                .unwrap()
                .grants(Context::User, "Patient", 'u')
        );
        assert!(
            Scope::parse("user/Patient.write")
                .unwrap()
                .grants(Context::User, "Patient", 'u')
        );
        assert!(
            Scope::parse("system/*.*")
                .unwrap()
                .grants(Context::System, "Patient", 'c')
        );
    }

    #[test]
    fn scopes_we_cannot_honour_grant_nothing() {
        for s in [
            "openid",
            "launch/patient",
            "patient/Patient.rs",
            "user/Patient.sr",
            "user/Patient.rr",
            "user/Patient.x",
            "user/Patient.",
            "user/Observation.rs?category=vital-signs",
            "user/Pat-ient.rs",
            "admin/Patient.rs",
        ] {
            assert_eq!(Scope::parse(s), None, "{s}");
        }
    }
}
