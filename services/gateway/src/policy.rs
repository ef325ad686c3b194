//! Who may do what. Two gates, both must open:
//!
//! 1. **Scope** (SMART v2): the token must carry a scope granting the operation's resource and
//!    action, `user/…` for a staff user's token, `system/…` for a backend client's.
//! 2. **Role** (minimum necessary), for staff users only: one of the user's roles must allow it
//!    in [`ROLE_RULES`]. A token with roles is a user token; without, a system token.
//!
//! Every gRPC method the gateway serves is an [`Operation`]; a method missing from the table is
//! refused, so nothing new is reachable by accident. `AUTHORIZATION.md` is generated from
//! this file (see the test at the bottom).

use iop_auth::scope::{Context, Scope};
use iop_core::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Patient,
    /// An episode of care (one IOP stay).
    EpisodeOfCare,
    /// A clinical note (intake, therapy, family, group, discharge, psychotherapy).
    DocumentReference,
    /// A treatment plan (any version) and its goal progress.
    CarePlan,
    /// A consent to disclose (42 CFR Part 2).
    Consent,
    /// A family or support contact.
    RelatedPerson,
    /// A referral from a partner system.
    ServiceRequest,
    /// A completed questionnaire (PHQ-9, GAD-7) and its score.
    QuestionnaireResponse,
    /// A safety flag raised on a patient (PHQ-9 item 9).
    Flag,
    AuditEvent,
    /// A registered backend client (not a FHIR type).
    Client,
}

impl Resource {
    pub const ALL: [Self; 11] = [
        Self::Patient,
        Self::EpisodeOfCare,
        Self::DocumentReference,
        Self::CarePlan,
        Self::Consent,
        Self::RelatedPerson,
        Self::ServiceRequest,
        Self::QuestionnaireResponse,
        Self::Flag,
        Self::AuditEvent,
        Self::Client,
    ];

    /// The FHIR resource type name used in scopes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::EpisodeOfCare => "EpisodeOfCare",
            Self::DocumentReference => "DocumentReference",
            Self::CarePlan => "CarePlan",
            Self::Consent => "Consent",
            Self::RelatedPerson => "RelatedPerson",
            Self::ServiceRequest => "ServiceRequest",
            Self::QuestionnaireResponse => "QuestionnaireResponse",
            Self::Flag => "Flag",
            Self::AuditEvent => "AuditEvent",
            Self::Client => "Client",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Action {
    pub const ALL: [Self; 5] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Delete,
        Self::Search,
    ];

    /// The SMART v2 permission letter.
    pub fn letter(self) -> char {
        match self {
            Self::Create => 'c',
            Self::Read => 'r',
            Self::Update => 'u',
            Self::Delete => 'd',
            Self::Search => 's',
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Search => "search",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    ProgramDirector,
    Clinician,
    FrontDesk,
}

impl Role {
    pub const ALL: [Self; 4] = [
        Self::Admin,
        Self::ProgramDirector,
        Self::Clinician,
        Self::FrontDesk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ProgramDirector => "program_director",
            Self::Clinician => "clinician",
            Self::FrontDesk => "front_desk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// What each staff role may do, per resource, as SMART permission letters. Anything not
/// listed is refused.
pub const ROLE_RULES: &[(Role, Resource, &str)] = &[
    (Role::Admin, Resource::Patient, "cruds"),
    (Role::ProgramDirector, Resource::Patient, "cruds"),
    // Clinicians and the front desk keep demographics current but do not delete patients.
    (Role::Clinician, Resource::Patient, "crus"),
    (Role::FrontDesk, Resource::Patient, "crus"),
    // Episodes: the care team runs them; the front desk sees who is referred or admitted
    // (to schedule), without changing clinical status.
    (Role::Clinician, Resource::EpisodeOfCare, "crus"),
    (Role::ProgramDirector, Resource::EpisodeOfCare, "crus"),
    (Role::FrontDesk, Resource::EpisodeOfCare, "rs"),
    // Clinical notes: the care team (author-only rules for drafts and psychotherapy notes
    // live in the records service). Signing and addenda are updates; notes are never deleted.
    (Role::Clinician, Resource::DocumentReference, "crus"),
    (Role::ProgramDirector, Resource::DocumentReference, "crus"),
    // Treatment plans: the care team. Signing, revising and progress are updates.
    (Role::Clinician, Resource::CarePlan, "crus"),
    (Role::ProgramDirector, Resource::CarePlan, "crus"),
    // Consent forms and family contacts: the care team and the front desk, which handles
    // release-of-information paperwork and contact details. Revoking is the update.
    (Role::Clinician, Resource::Consent, "crus"),
    (Role::ProgramDirector, Resource::Consent, "crus"),
    (Role::FrontDesk, Resource::Consent, "crus"),
    (Role::Clinician, Resource::RelatedPerson, "crus"),
    (Role::ProgramDirector, Resource::RelatedPerson, "crus"),
    (Role::FrontDesk, Resource::RelatedPerson, "crus"),
    // Referrals: intake staff (front desk) and the care team work them. Partner clients are
    // granted only system/ServiceRequest scopes (see clients.rs), and the records service
    // shows a backend client only the referrals it sent and lets only staff change them.
    (Role::Clinician, Resource::ServiceRequest, "crus"),
    (Role::ProgramDirector, Resource::ServiceRequest, "crus"),
    (Role::FrontDesk, Resource::ServiceRequest, "crus"),
    // Assessments and safety flags are clinical: the care team only, never the front desk
    // or admins. Acknowledging a flag is its update; scores are never edited or deleted.
    (Role::Clinician, Resource::QuestionnaireResponse, "crs"),
    (
        Role::ProgramDirector,
        Resource::QuestionnaireResponse,
        "crs",
    ),
    (Role::Clinician, Resource::Flag, "rus"),
    (Role::ProgramDirector, Resource::Flag, "rus"),
    // Who looked at which patient is for admins (compliance) only.
    (Role::Admin, Resource::AuditEvent, "rs"),
    // Registering integrations and their keys: admins, and program directors, who alone may
    // grant a client clinical scopes (see `may_grant`: no one grants more than they hold).
    (Role::Admin, Resource::Client, "crus"),
    (Role::ProgramDirector, Resource::Client, "crus"),
];

/// Resources only staff users reach, whatever a backend client's scopes say: a client that
/// could manage clients could give itself, or others, more rights.
pub const STAFF_ONLY: &[Resource] = &[Resource::Client];

/// Every operation the gateway serves, with the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreatePatient,
    GetPatient,
    ListPatients,
    UpdatePatient,
    CreateEpisode,
    GetEpisode,
    ListEpisodes,
    UpdateEpisode,
    AdmitEpisode,
    ChangeLevelOfCare,
    DischargeEpisode,
    CreateNote,
    GetNote,
    ListNotes,
    UpdateNote,
    SignNote,
    AddAddendum,
    CreatePlan,
    GetPlan,
    ListPlans,
    ListPlanVersions,
    UpdatePlan,
    SignPlan,
    RevisePlan,
    RecordGoalProgress,
    CreateConsent,
    GetConsent,
    ListConsents,
    RevokeConsent,
    CheckDisclosure,
    CreateContact,
    GetContact,
    ListContacts,
    UpdateContact,
    CreateReferral,
    GetReferral,
    ListReferrals,
    ReviewReferral,
    AcceptReferral,
    ScheduleIntake,
    MarkAdmitted,
    DeclineReferral,
    RecordAssessment,
    GetAssessment,
    ListAssessments,
    ListSafetyFlags,
    AcknowledgeSafetyFlag,
    ListAuditEvents,
    CreateClient,
    GetClient,
    ListClients,
    UpdateClient,
}

impl Operation {
    pub const ALL: [Self; 52] = [
        Self::CreatePatient,
        Self::GetPatient,
        Self::ListPatients,
        Self::UpdatePatient,
        Self::CreateEpisode,
        Self::GetEpisode,
        Self::ListEpisodes,
        Self::UpdateEpisode,
        Self::AdmitEpisode,
        Self::ChangeLevelOfCare,
        Self::DischargeEpisode,
        Self::CreateNote,
        Self::GetNote,
        Self::ListNotes,
        Self::UpdateNote,
        Self::SignNote,
        Self::AddAddendum,
        Self::CreatePlan,
        Self::GetPlan,
        Self::ListPlans,
        Self::ListPlanVersions,
        Self::UpdatePlan,
        Self::SignPlan,
        Self::RevisePlan,
        Self::RecordGoalProgress,
        Self::CreateConsent,
        Self::GetConsent,
        Self::ListConsents,
        Self::RevokeConsent,
        Self::CheckDisclosure,
        Self::CreateContact,
        Self::GetContact,
        Self::ListContacts,
        Self::UpdateContact,
        Self::CreateReferral,
        Self::GetReferral,
        Self::ListReferrals,
        Self::ReviewReferral,
        Self::AcceptReferral,
        Self::ScheduleIntake,
        Self::MarkAdmitted,
        Self::DeclineReferral,
        Self::RecordAssessment,
        Self::GetAssessment,
        Self::ListAssessments,
        Self::ListSafetyFlags,
        Self::AcknowledgeSafetyFlag,
        Self::ListAuditEvents,
        Self::CreateClient,
        Self::GetClient,
        Self::ListClients,
        Self::UpdateClient,
    ];

    /// The gRPC method.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Self::CreatePatient => "/iop.records.v1.PatientService/CreatePatient",
            Self::GetPatient => "/iop.records.v1.PatientService/GetPatient",
            Self::ListPatients => "/iop.records.v1.PatientService/ListPatients",
            Self::UpdatePatient => "/iop.records.v1.PatientService/UpdatePatient",
            Self::CreateEpisode => "/iop.records.v1.EpisodeService/CreateEpisode",
            Self::GetEpisode => "/iop.records.v1.EpisodeService/GetEpisode",
            Self::ListEpisodes => "/iop.records.v1.EpisodeService/ListEpisodes",
            Self::UpdateEpisode => "/iop.records.v1.EpisodeService/UpdateEpisode",
            Self::AdmitEpisode => "/iop.records.v1.EpisodeService/AdmitEpisode",
            Self::ChangeLevelOfCare => "/iop.records.v1.EpisodeService/ChangeLevelOfCare",
            Self::DischargeEpisode => "/iop.records.v1.EpisodeService/DischargeEpisode",
            Self::CreateNote => "/iop.records.v1.NoteService/CreateNote",
            Self::GetNote => "/iop.records.v1.NoteService/GetNote",
            Self::ListNotes => "/iop.records.v1.NoteService/ListNotes",
            Self::UpdateNote => "/iop.records.v1.NoteService/UpdateNote",
            Self::SignNote => "/iop.records.v1.NoteService/SignNote",
            Self::AddAddendum => "/iop.records.v1.NoteService/AddAddendum",
            Self::CreatePlan => "/iop.records.v1.TreatmentPlanService/CreatePlan",
            Self::GetPlan => "/iop.records.v1.TreatmentPlanService/GetPlan",
            Self::ListPlans => "/iop.records.v1.TreatmentPlanService/ListPlans",
            Self::ListPlanVersions => "/iop.records.v1.TreatmentPlanService/ListPlanVersions",
            Self::UpdatePlan => "/iop.records.v1.TreatmentPlanService/UpdatePlan",
            Self::SignPlan => "/iop.records.v1.TreatmentPlanService/SignPlan",
            Self::RevisePlan => "/iop.records.v1.TreatmentPlanService/RevisePlan",
            Self::RecordGoalProgress => "/iop.records.v1.TreatmentPlanService/RecordGoalProgress",
            Self::CreateConsent => "/iop.records.v1.ConsentService/CreateConsent",
            Self::GetConsent => "/iop.records.v1.ConsentService/GetConsent",
            Self::ListConsents => "/iop.records.v1.ConsentService/ListConsents",
            Self::RevokeConsent => "/iop.records.v1.ConsentService/RevokeConsent",
            Self::CheckDisclosure => "/iop.records.v1.ConsentService/CheckDisclosure",
            Self::CreateContact => "/iop.records.v1.ContactService/CreateContact",
            Self::GetContact => "/iop.records.v1.ContactService/GetContact",
            Self::ListContacts => "/iop.records.v1.ContactService/ListContacts",
            Self::UpdateContact => "/iop.records.v1.ContactService/UpdateContact",
            Self::CreateReferral => "/iop.records.v1.ReferralService/CreateReferral",
            Self::GetReferral => "/iop.records.v1.ReferralService/GetReferral",
            Self::ListReferrals => "/iop.records.v1.ReferralService/ListReferrals",
            Self::ReviewReferral => "/iop.records.v1.ReferralService/ReviewReferral",
            Self::AcceptReferral => "/iop.records.v1.ReferralService/AcceptReferral",
            Self::ScheduleIntake => "/iop.records.v1.ReferralService/ScheduleIntake",
            Self::MarkAdmitted => "/iop.records.v1.ReferralService/MarkAdmitted",
            Self::DeclineReferral => "/iop.records.v1.ReferralService/DeclineReferral",
            Self::RecordAssessment => "/iop.records.v1.AssessmentService/RecordAssessment",
            Self::GetAssessment => "/iop.records.v1.AssessmentService/GetAssessment",
            Self::ListAssessments => "/iop.records.v1.AssessmentService/ListAssessments",
            Self::ListSafetyFlags => "/iop.records.v1.AssessmentService/ListSafetyFlags",
            Self::AcknowledgeSafetyFlag => {
                "/iop.records.v1.AssessmentService/AcknowledgeSafetyFlag"
            }
            Self::ListAuditEvents => "/iop.audit.v1.AuditService/ListAuditEvents",
            Self::CreateClient => "/iop.clients.v1.ClientService/CreateClient",
            Self::GetClient => "/iop.clients.v1.ClientService/GetClient",
            Self::ListClients => "/iop.clients.v1.ClientService/ListClients",
            Self::UpdateClient => "/iop.clients.v1.ClientService/UpdateClient",
        }
    }

    /// Whether the operation changes data (create, update, delete): its attempt is audited
    /// before it is forwarded.
    pub fn changes(self) -> bool {
        match self.permission().1 {
            Action::Create | Action::Update | Action::Delete => true,
            Action::Read | Action::Search => false,
        }
    }

    pub fn permission(self) -> (Resource, Action) {
        match self {
            Self::CreatePatient => (Resource::Patient, Action::Create),
            Self::GetPatient => (Resource::Patient, Action::Read),
            Self::ListPatients => (Resource::Patient, Action::Search),
            Self::UpdatePatient => (Resource::Patient, Action::Update),
            Self::CreateEpisode => (Resource::EpisodeOfCare, Action::Create),
            Self::GetEpisode => (Resource::EpisodeOfCare, Action::Read),
            Self::ListEpisodes => (Resource::EpisodeOfCare, Action::Search),
            Self::UpdateEpisode
            | Self::AdmitEpisode
            | Self::ChangeLevelOfCare
            | Self::DischargeEpisode => (Resource::EpisodeOfCare, Action::Update),
            Self::CreateNote => (Resource::DocumentReference, Action::Create),
            Self::GetNote => (Resource::DocumentReference, Action::Read),
            Self::ListNotes => (Resource::DocumentReference, Action::Search),
            Self::UpdateNote | Self::SignNote | Self::AddAddendum => {
                (Resource::DocumentReference, Action::Update)
            }
            Self::CreatePlan => (Resource::CarePlan, Action::Create),
            Self::GetPlan | Self::ListPlanVersions => (Resource::CarePlan, Action::Read),
            Self::ListPlans => (Resource::CarePlan, Action::Search),
            Self::UpdatePlan | Self::SignPlan | Self::RevisePlan | Self::RecordGoalProgress => {
                (Resource::CarePlan, Action::Update)
            }
            Self::CreateConsent => (Resource::Consent, Action::Create),
            Self::GetConsent => (Resource::Consent, Action::Read),
            Self::ListConsents => (Resource::Consent, Action::Search),
            Self::RevokeConsent => (Resource::Consent, Action::Update),
            Self::CheckDisclosure => (Resource::Consent, Action::Read),
            Self::CreateContact => (Resource::RelatedPerson, Action::Create),
            Self::GetContact => (Resource::RelatedPerson, Action::Read),
            Self::ListContacts => (Resource::RelatedPerson, Action::Search),
            Self::UpdateContact => (Resource::RelatedPerson, Action::Update),
            Self::CreateReferral => (Resource::ServiceRequest, Action::Create),
            Self::GetReferral => (Resource::ServiceRequest, Action::Read),
            Self::ListReferrals => (Resource::ServiceRequest, Action::Search),
            Self::ReviewReferral => (Resource::ServiceRequest, Action::Update),
            Self::AcceptReferral => (Resource::ServiceRequest, Action::Update),
            Self::ScheduleIntake => (Resource::ServiceRequest, Action::Update),
            Self::MarkAdmitted => (Resource::ServiceRequest, Action::Update),
            Self::DeclineReferral => (Resource::ServiceRequest, Action::Update),
            Self::RecordAssessment => (Resource::QuestionnaireResponse, Action::Create),
            Self::GetAssessment => (Resource::QuestionnaireResponse, Action::Read),
            Self::ListAssessments => (Resource::QuestionnaireResponse, Action::Search),
            Self::ListSafetyFlags => (Resource::Flag, Action::Search),
            Self::AcknowledgeSafetyFlag => (Resource::Flag, Action::Update),
            Self::ListAuditEvents => (Resource::AuditEvent, Action::Search),
            Self::CreateClient => (Resource::Client, Action::Create),
            Self::GetClient => (Resource::Client, Action::Read),
            Self::ListClients => (Resource::Client, Action::Search),
            Self::UpdateClient => (Resource::Client, Action::Update),
        }
    }

    /// The action name in the audit trail.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::CreatePatient => "patient.create",
            Self::GetPatient => "patient.read",
            Self::ListPatients => "patient.search",
            Self::UpdatePatient => "patient.update",
            Self::CreateEpisode => "episode.create",
            Self::GetEpisode => "episode.read",
            Self::ListEpisodes => "episode.search",
            Self::UpdateEpisode => "episode.update",
            Self::AdmitEpisode => "episode.admit",
            Self::ChangeLevelOfCare => "episode.level",
            Self::DischargeEpisode => "episode.discharge",
            Self::CreateNote => "note.create",
            Self::GetNote => "note.read",
            Self::ListNotes => "note.search",
            Self::UpdateNote => "note.update",
            Self::SignNote => "note.sign",
            Self::AddAddendum => "note.addendum",
            Self::CreatePlan => "plan.create",
            Self::GetPlan => "plan.read",
            Self::ListPlans => "plan.search",
            Self::ListPlanVersions => "plan.versions",
            Self::UpdatePlan => "plan.update",
            Self::SignPlan => "plan.sign",
            Self::RevisePlan => "plan.revise",
            Self::RecordGoalProgress => "plan.progress",
            Self::CreateConsent => "consent.create",
            Self::GetConsent => "consent.read",
            Self::ListConsents => "consent.search",
            Self::RevokeConsent => "consent.revoke",
            Self::CheckDisclosure => "consent.check",
            Self::CreateContact => "contact.create",
            Self::GetContact => "contact.read",
            Self::ListContacts => "contact.search",
            Self::UpdateContact => "contact.update",
            Self::CreateReferral => "referral.create",
            Self::GetReferral => "referral.read",
            Self::ListReferrals => "referral.search",
            Self::ReviewReferral => "referral.review",
            Self::AcceptReferral => "referral.accept",
            Self::ScheduleIntake => "referral.intake",
            Self::MarkAdmitted => "referral.admit",
            Self::DeclineReferral => "referral.decline",
            Self::RecordAssessment => "assessment.create",
            Self::GetAssessment => "assessment.read",
            Self::ListAssessments => "assessment.search",
            Self::ListSafetyFlags => "safetyflag.search",
            Self::AcknowledgeSafetyFlag => "safetyflag.acknowledge",
            Self::ListAuditEvents => "auditevent.search",
            Self::CreateClient => "client.create",
            Self::GetClient => "client.read",
            Self::ListClients => "client.search",
            Self::UpdateClient => "client.update",
        }
    }

    pub fn from_grpc_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.grpc_path() == path)
    }
}

/// Does `role` allow `action` on `resource` by [`ROLE_RULES`]?
pub fn role_allows(role: Role, resource: Resource, action: Action) -> bool {
    ROLE_RULES.iter().any(|(r, res, letters)| {
        *r == role && *res == resource && letters.contains(action.letter())
    })
}

/// Why a call was refused; the text names what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

pub fn authorize(who: &Principal, op: Operation) -> Result<(), Denied> {
    let (resource, action) = op.permission();
    let context = if who.is_user() {
        Context::User
    } else {
        Context::System
    };
    if context == Context::System && STAFF_ONLY.contains(&resource) {
        return Err(Denied(format!(
            "backend clients may not {} {}: only staff users may",
            action.verb(),
            resource.name()
        )));
    }
    let prefix = match context {
        Context::User => "user",
        Context::System => "system",
    };
    let scoped = who
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .any(|s| s.grants(context, resource.name(), action.letter()));
    if !scoped {
        return Err(Denied(format!(
            "missing scope {prefix}/{}.{} (to {} {})",
            resource.name(),
            action.letter(),
            action.verb(),
            resource.name()
        )));
    }
    if context == Context::User {
        let allowed = who
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .any(|role| role_allows(role, resource, action));
        if !allowed {
            return Err(Denied(format!(
                "role {} may not {} {}",
                who.roles.join(", "),
                action.verb(),
                resource.name()
            )));
        }
    }
    Ok(())
}

/// The gRPC services the gateway serves (`iop.records.v1.PatientService`…), from its
/// operations.
pub fn served_grpc_services() -> Vec<&'static str> {
    let mut services: Vec<&'static str> = Operation::ALL
        .into_iter()
        .filter_map(|op| {
            let path = op.grpc_path().trim_start_matches('/');
            path.split_once('/').map(|(service, _)| service)
        })
        .collect();
    services.sort_unstable();
    services.dedup();
    services
}

/// Whether `who` may give a backend client `scope`: only rights the caller holds itself
/// through one of its roles. No one grants more than they have — an admin, who has no
/// clinical rights, cannot register a client that reads notes, nor take such a client over
/// by changing its keys; a program director can.
pub fn may_grant(who: &Principal, scope: &str) -> Result<(), Denied> {
    let Some(parsed) = Scope::parse(scope) else {
        // Grants nothing; validation names it.
        return Ok(());
    };
    let resources = Resource::ALL.into_iter().filter(|r| {
        parsed
            .resource
            .as_deref()
            .is_none_or(|name| name == r.name())
    });
    for resource in resources {
        for action in Action::ALL {
            if !parsed.perms.allows(action.letter()) {
                continue;
            }
            let held = who
                .roles
                .iter()
                .filter_map(|r| Role::parse(r))
                .any(|role| role_allows(role, resource, action));
            if !held {
                return Err(Denied(format!(
                    "role {} may not grant {scope}: it may not {} {} itself",
                    if who.roles.is_empty() {
                        "(none)".to_owned()
                    } else {
                        who.roles.join(", ")
                    },
                    action.verb(),
                    resource.name()
                )));
            }
        }
    }
    Ok(())
}

/// The role matrix as Markdown, for `AUTHORIZATION.md`.
pub fn matrix_markdown() -> String {
    let mut md = String::from(
        "# Authorization matrix\n\n\
         Generated from `src/policy.rs` by `cargo test -p iop-gateway` (set `UPDATE_DOCS=1` to\n\
         rewrite it). A call needs **both** a scope granting it (`user/…` for staff users,\n\
         `system/…` for backend clients) and, for staff users, a role allowing it below.\n\
         Backend clients never reach the client registry (`Client`), whatever their scopes, and\n\
         a staff user may grant a client only scopes their own roles allow.\n\
         Letters: c create, r read, u update, d delete, s search; `-` none.\n\n| role |",
    );
    for res in Resource::ALL {
        md.push_str(&format!(" {} |", res.name()));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(Resource::ALL.len()));
    md.push('\n');
    for role in Role::ALL {
        md.push_str(&format!("| {} |", role.name()));
        for res in Resource::ALL {
            let letters: String = Action::ALL
                .into_iter()
                .filter(|a| role_allows(role, res, *a))
                .map(Action::letter)
                .collect();
            md.push_str(&format!(
                " {} |",
                if letters.is_empty() {
                    "-".into()
                } else {
                    letters
                }
            ));
        }
        md.push('\n');
    }
    md.push_str(
        "\nBackend clients (system tokens) have no role: their scopes decide. A \
         `referral_partner` client can only be granted `system/ServiceRequest` scopes; the \
         records service shows a backend client only the referrals it sent, without the \
         clinic's internal ids and notes, and status changes of referrals, signing notes and \
         plans, and acknowledging safety flags are for staff users signed in as themselves. \
         Psychotherapy notes are readable only by their author; drafts are edited only by \
         their author.\n",
    );
    md.push_str("\n## Operations\n\n| gRPC method | REST | needs |\n|---|---|---|\n");
    for op in Operation::ALL {
        let (res, action) = op.permission();
        md.push_str(&format!(
            "| `{}` | {} | `{}.{}` |\n",
            op.grpc_path().trim_start_matches('/'),
            rest_route(op),
            res.name(),
            action.letter()
        ));
    }
    md
}

fn rest_route(op: Operation) -> &'static str {
    match op {
        Operation::CreatePatient => "`POST /v1/patients`",
        Operation::GetPatient => "`GET /v1/patients/{id}`",
        Operation::ListPatients => "`GET /v1/patients`",
        Operation::UpdatePatient => "`PATCH /v1/patients/{id}`",
        Operation::CreateEpisode => "`POST /v1/patients/{id}/episodes`",
        Operation::GetEpisode => "`GET /v1/episodes/{id}`",
        Operation::ListEpisodes => "`GET /v1/episodes`",
        Operation::UpdateEpisode => "`PATCH /v1/episodes/{id}`",
        Operation::AdmitEpisode => "`POST /v1/episodes/{id}/admit`",
        Operation::ChangeLevelOfCare => "`POST /v1/episodes/{id}/levels`",
        Operation::DischargeEpisode => "`POST /v1/episodes/{id}/discharge`",
        Operation::CreateNote => "`POST /v1/patients/{id}/notes`",
        Operation::GetNote => "`GET /v1/notes/{id}`",
        Operation::ListNotes => "`GET /v1/notes`",
        Operation::UpdateNote => "`PATCH /v1/notes/{id}`",
        Operation::SignNote => "`POST /v1/notes/{id}/sign`",
        Operation::AddAddendum => "`POST /v1/notes/{id}/addenda`",
        Operation::CreatePlan => "`POST /v1/patients/{id}/plans`",
        Operation::GetPlan => "`GET /v1/plans/{id}`",
        Operation::ListPlans => "`GET /v1/plans`",
        Operation::ListPlanVersions => "`GET /v1/plans/{id}/versions`",
        Operation::UpdatePlan => "`PUT /v1/plans/{id}`",
        Operation::SignPlan => "`POST /v1/plans/{id}/sign`",
        Operation::RevisePlan => "`POST /v1/plans/{id}/revisions`",
        Operation::RecordGoalProgress => "`POST /v1/plans/{id}/goals/{goal_id}/progress`",
        Operation::CreateConsent => "`POST /v1/patients/{id}/consents`",
        Operation::GetConsent => "`GET /v1/consents/{id}`",
        Operation::ListConsents => "`GET /v1/consents`",
        Operation::RevokeConsent => "`POST /v1/consents/{id}/revoke`",
        Operation::CheckDisclosure => "`GET /v1/patients/{id}/disclosure-check`",
        Operation::CreateContact => "`POST /v1/patients/{id}/contacts`",
        Operation::GetContact => "`GET /v1/contacts/{id}`",
        Operation::ListContacts => "`GET /v1/patients/{id}/contacts`",
        Operation::UpdateContact => "`PATCH /v1/contacts/{id}`",
        Operation::CreateReferral => "`POST /v1/referrals`",
        Operation::GetReferral => "`GET /v1/referrals/{id}`",
        Operation::ListReferrals => "`GET /v1/referrals`",
        Operation::ReviewReferral => "`POST /v1/referrals/{id}/review`",
        Operation::AcceptReferral => "`POST /v1/referrals/{id}/accept`",
        Operation::ScheduleIntake => "`POST /v1/referrals/{id}/intake`",
        Operation::MarkAdmitted => "`POST /v1/referrals/{id}/admit`",
        Operation::DeclineReferral => "`POST /v1/referrals/{id}/decline`",
        Operation::RecordAssessment => "`POST /v1/patients/{id}/assessments`",
        Operation::GetAssessment => "`GET /v1/assessments/{id}`",
        Operation::ListAssessments => "`GET /v1/patients/{id}/assessments`",
        Operation::ListSafetyFlags => "`GET /v1/safety-flags`",
        Operation::AcknowledgeSafetyFlag => "`POST /v1/safety-flags/{id}/acknowledge`",
        Operation::ListAuditEvents => "`GET /v1/audit-events`",
        Operation::CreateClient => "`POST /v1/clients`",
        Operation::GetClient => "`GET /v1/clients/{id}`",
        Operation::ListClients => "`GET /v1/clients`",
        Operation::UpdateClient => "`PATCH /v1/clients/{id}`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iop_core::TenantId;

    fn user(roles: &[&str], scopes: &[&str]) -> Principal {
        Principal {
            tenant: TenantId::parse("t").unwrap(),
            subject: "u".into(),
            client_id: None,
            issuer: "i".into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            request_id: "r".into(),
            source_addr: None,
        }
    }

    #[test]
    fn the_docs_matrix_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("AUTHORIZATION.md");
        let generated = matrix_markdown();
        if std::env::var("UPDATE_DOCS").is_ok() {
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk, generated,
            "AUTHORIZATION.md is stale: run with UPDATE_DOCS=1"
        );
    }

    #[test]
    fn every_grpc_path_maps_back_to_its_operation() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_grpc_path(op.grpc_path()), Some(op));
        }
        assert_eq!(
            Operation::from_grpc_path("/iop.records.v1.PatientService/DeletePatient"),
            None
        );
    }

    #[test]
    fn scope_is_required_and_named_when_missing() {
        let err = authorize(
            &user(&["admin"], &["user/Patient.rs"]),
            Operation::UpdatePatient,
        )
        .unwrap_err();
        assert_eq!(err.0, "missing scope user/Patient.u (to update Patient)");
        assert!(
            authorize(
                &user(&["admin"], &["user/*.cruds"]),
                Operation::UpdatePatient
            )
            .is_ok()
        );
    }

    #[test]
    fn user_tokens_need_user_scopes_and_system_tokens_system_scopes() {
        assert!(
            authorize(
                &user(&["admin"], &["system/Patient.rs"]),
                Operation::GetPatient
            )
            .is_err()
        );
        assert!(authorize(&user(&[], &["system/Patient.rs"]), Operation::GetPatient).is_ok());
        assert!(authorize(&user(&[], &["user/Patient.rs"]), Operation::GetPatient).is_err());
    }

    #[test]
    fn roles_limit_what_scopes_allow() {
        let all = ["user/*.cruds"];
        for role in Role::ALL {
            for op in Operation::ALL {
                let (res, action) = op.permission();
                let got = authorize(&user(&[role.name()], &all), op).is_ok();
                assert_eq!(got, role_allows(role, res, action), "{role:?} {op:?}");
            }
        }
        let err = authorize(&user(&["receptionist"], &all), Operation::GetPatient).unwrap_err();
        assert_eq!(err.0, "role receptionist may not read Patient");
    }
}
