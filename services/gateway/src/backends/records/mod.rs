//! The records service (`iop.records.v1`): every operation the gateway forwards to it,
//! declared once, and the REST handlers that map JSON onto its messages.

pub(crate) mod assessments;
pub(crate) mod consents;
pub(crate) mod episodes;
pub(crate) mod notes;
pub(crate) mod patients;
pub(crate) mod plans;
pub(crate) mod referrals;

use crate::policy::{Role, Rule};

/// The resource types of the records service, by their FHIR names.
#[allow(non_upper_case_globals)]
pub mod resources {
    use crate::policy::Resource;

    pub const Patient: Resource = Resource::named("Patient");
    /// An episode of care (one IOP stay).
    pub const EpisodeOfCare: Resource = Resource::named("EpisodeOfCare");
    /// A clinical note (intake, therapy, family, group, discharge, psychotherapy).
    pub const DocumentReference: Resource = Resource::named("DocumentReference");
    /// A treatment plan (any version) and its goal progress.
    pub const CarePlan: Resource = Resource::named("CarePlan");
    /// A consent to disclose (42 CFR Part 2).
    pub const Consent: Resource = Resource::named("Consent");
    /// A family or support contact.
    pub const RelatedPerson: Resource = Resource::named("RelatedPerson");
    /// A referral from a partner system.
    pub const ServiceRequest: Resource = Resource::named("ServiceRequest");
    /// A completed questionnaire (PHQ-9, GAD-7) and its score.
    pub const QuestionnaireResponse: Resource = Resource::named("QuestionnaireResponse");
    /// A safety flag raised on a patient (PHQ-9 item 9).
    pub const Flag: Resource = Resource::named("Flag");

    pub const ALL: &[Resource] = &[
        Patient,
        EpisodeOfCare,
        DocumentReference,
        CarePlan,
        Consent,
        RelatedPerson,
        ServiceRequest,
        QuestionnaireResponse,
        Flag,
    ];
}

/// What each staff role may do with the records service's resources.
const RULES: &[Rule] = &[
    (Role::Admin, resources::Patient, "cruds"),
    (Role::ProgramDirector, resources::Patient, "cruds"),
    // Clinicians and the front desk keep demographics current but do not delete patients.
    (Role::Clinician, resources::Patient, "crus"),
    (Role::FrontDesk, resources::Patient, "crus"),
    // Episodes: the care team runs them; the front desk sees who is referred or admitted
    // (to schedule), without changing clinical status.
    (Role::Clinician, resources::EpisodeOfCare, "crus"),
    (Role::ProgramDirector, resources::EpisodeOfCare, "crus"),
    (Role::FrontDesk, resources::EpisodeOfCare, "rs"),
    // Clinical notes: the care team (author-only rules for drafts and psychotherapy notes
    // live in the records service). Signing and addenda are updates; notes are never deleted.
    (Role::Clinician, resources::DocumentReference, "crus"),
    (Role::ProgramDirector, resources::DocumentReference, "crus"),
    // Treatment plans: the care team. Signing, revising and progress are updates.
    (Role::Clinician, resources::CarePlan, "crus"),
    (Role::ProgramDirector, resources::CarePlan, "crus"),
    // Consent forms and family contacts: the care team and the front desk, which handles
    // release-of-information paperwork and contact details. Revoking is the update.
    (Role::Clinician, resources::Consent, "crus"),
    (Role::ProgramDirector, resources::Consent, "crus"),
    (Role::FrontDesk, resources::Consent, "crus"),
    (Role::Clinician, resources::RelatedPerson, "crus"),
    (Role::ProgramDirector, resources::RelatedPerson, "crus"),
    (Role::FrontDesk, resources::RelatedPerson, "crus"),
    // Referrals: intake staff (front desk) and the care team work them. Partner clients are
    // granted only system/ServiceRequest scopes (see clients.rs), and the records service
    // shows a backend client only the referrals it sent and lets only staff change them.
    (Role::Clinician, resources::ServiceRequest, "crus"),
    (Role::ProgramDirector, resources::ServiceRequest, "crus"),
    (Role::FrontDesk, resources::ServiceRequest, "crus"),
    // Assessments and safety flags are clinical: the care team only, never the front desk
    // or admins. Acknowledging a flag is its update; scores are never edited or deleted.
    (Role::Clinician, resources::QuestionnaireResponse, "crs"),
    (
        Role::ProgramDirector,
        resources::QuestionnaireResponse,
        "crs",
    ),
    (Role::Clinician, resources::Flag, "rus"),
    (Role::ProgramDirector, resources::Flag, "rus"),
];

/// What the records service itself enforces beyond scopes and roles.
const BEYOND_ROLES: &str = "The records service shows a backend client only the referrals it \
    sent, without the clinic's internal ids and notes, and status changes of referrals, \
    signing notes and plans, and acknowledging safety flags are for staff users signed in as \
    themselves. Psychotherapy notes are readable only by their author; drafts are edited only \
    by their author.";

/// The OpenAPI tags of the records service's operations.
const TAGS: &[(&str, &str)] = &[
    ("patients", "Patients of your clinic"),
    (
        "referrals",
        "Referrals from partner systems and their closed loop",
    ),
    (
        "consents",
        "Consents to disclose (42 CFR Part 2), disclosure checks, family and support contacts",
    ),
    (
        "plans",
        "Treatment plans: versioned problems, goals, objectives, interventions; goal progress",
    ),
    (
        "notes",
        "Clinical notes: drafts, signing, addenda; psychotherapy notes for their author only",
    ),
    (
        "episodes",
        "Episodes of care: referral, admission, levels of care, discharge and aftercare",
    ),
    (
        "assessments",
        "PHQ-9 and GAD-7 scores and the safety flags they raise",
    ),
];

/// What the records service checks across fields of a body, in JSON Schema terms.
fn schema_rules(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let mut refine = |name: &str, rule| super::refine(schemas, name, rule);
    // No identifier twice, no category or purpose twice.
    for (schema, field) in [
        ("NewPatient", "identifiers"),
        ("PatientUpdate", "identifiers"),
        ("ReferredPatient", "identifiers"),
        ("NewConsent", "categories"),
        ("NewConsent", "purposes"),
    ] {
        refine(
            schema,
            json!({ "properties": { field: { "uniqueItems": true } } }),
        );
    }
    // A family contact is reachable: a phone number or an email address.
    let reachable = json!({ "anyOf": [
        { "required": ["phone"], "properties": { "phone": { "minLength": 1 } } },
        { "required": ["email"], "properties": { "email": { "minLength": 1 } } },
    ] });
    refine(
        "NewFamilyContact",
        json!({ "properties": { "contact": reachable.clone() } }),
    );
    refine(
        "FamilyContactUpdate",
        json!({ "properties": { "contact": reachable } }),
    );
    // Each answer is 0 ("not at all") to 3 ("nearly every day"); PHQ-9 has 9 items, GAD-7
    // 7 (services/records/src/scoring.rs).
    refine(
        "AssessmentWrite",
        json!({
            "properties": { "answers": { "items": { "type": "integer", "minimum": 0, "maximum": 3 } } },
        }),
    );
    for (instrument, items) in [("phq9", 9), ("gad7", 7)] {
        refine(
            "AssessmentWrite",
            json!({
                "if": { "properties": { "instrument": { "const": instrument } }, "required": ["instrument"] },
                "then": { "properties": { "answers": { "minItems": items, "maxItems": items } } },
            }),
        );
    }
    // Going on to other care needs an aftercare plan with the level stepped to.
    refine(
        "DischargeRequest",
        json!({
            "if": {
                "properties": { "reason": { "enum": ["completed", "stepped_down", "stepped_up", "transferred"] } },
                "required": ["reason"],
            },
            "then": {
                "required": ["aftercare"],
                "properties": { "aftercare": { "type": "object", "required": ["step_down_level"], "properties": { "step_down_level": { "type": "string" } } } },
            },
        }),
    );
    // A session's end needs its start (services/records/src/notes.rs `check_content`).
    refine(
        "NewNote",
        json!({
            "if": { "required": ["end_time"], "properties": { "end_time": { "type": "string" } } },
            "then": { "required": ["start_time"], "properties": { "start_time": { "type": "string" } } },
        }),
    );
    refine(
        "NoteUpdate",
        json!({
            "if": { "required": ["end_time", "start_time"], "properties": { "end_time": { "type": "string" } } },
            "then": { "properties": { "start_time": { "type": "string" } } },
        }),
    );
    // Opening the episode on acceptance needs its population.
    refine(
        "Accept",
        json!({
            "if": { "properties": { "open_episode": { "const": true } }, "required": ["open_episode"] },
            "then": { "required": ["population"], "properties": { "population": { "type": "string" } } },
        }),
    );
}

crate::operation::backend_operations! {
    backend "records";
    tags TAGS;
    schema rules schema_rules;
    public routes crate::backends::no_public_routes;
    resources resources::ALL, rules RULES, beyond roles BEYOND_ROLES;
    package "iop.records.v1" in records;

    service PatientService(patient_service_server::PatientServiceServer, patient_service_client::PatientServiceClient) {
        CreatePatient = create_patient(CreatePatientRequest) -> Patient {
            needs: Patient.Create, audit: "patient.create", data: Demographics,
            asks: nothing, gives: the_patient, rest: patients::create,
        }
        GetPatient = get_patient(GetPatientRequest) -> Patient {
            needs: Patient.Read, audit: "patient.read", data: Demographics,
            asks: the_patient, gives: the_patient, rest: patients::get,
        }
        ListPatients = list_patients(ListPatientsRequest) -> ListPatientsResponse {
            needs: Patient.Search, audit: "patient.search", data: Demographics,
            asks: nothing, gives: each(patients, the_patient), rest: patients::list,
        }
        UpdatePatient = update_patient(UpdatePatientRequest) -> Patient {
            needs: Patient.Update, audit: "patient.update", data: Demographics,
            asks: each(patient, the_patient), gives: the_patient, rest: patients::update,
        }
    }

    service EpisodeService(episode_service_server::EpisodeServiceServer, episode_service_client::EpisodeServiceClient) {
        CreateEpisode = create_episode(CreateEpisodeRequest) -> Episode {
            needs: EpisodeOfCare.Create, audit: "episode.create", data: Attendance,
            asks: each(episode, patient), gives: resource, rest: episodes::create,
        }
        GetEpisode = get_episode(GetEpisodeRequest) -> Episode {
            needs: EpisodeOfCare.Read, audit: "episode.read", data: Attendance,
            asks: id, gives: resource, rest: episodes::get,
        }
        ListEpisodes = list_episodes(ListEpisodesRequest) -> ListEpisodesResponse {
            needs: EpisodeOfCare.Search, audit: "episode.search", data: Attendance,
            asks: patient_filter, gives: each(episodes, resource), rest: episodes::list,
        }
        UpdateEpisode = update_episode(UpdateEpisodeRequest) -> Episode {
            needs: EpisodeOfCare.Update, audit: "episode.update", data: Attendance,
            asks: each(episode, id), gives: resource, rest: episodes::update,
        }
        AdmitEpisode = admit_episode(AdmitEpisodeRequest) -> Episode {
            needs: EpisodeOfCare.Update, audit: "episode.admit", data: Attendance,
            asks: id, gives: resource, rest: episodes::admit,
        }
        ChangeLevelOfCare = change_level_of_care(ChangeLevelOfCareRequest) -> Episode {
            needs: EpisodeOfCare.Update, audit: "episode.level", data: Attendance,
            asks: id, gives: resource, rest: episodes::change_level,
        }
        DischargeEpisode = discharge_episode(DischargeEpisodeRequest) -> Episode {
            needs: EpisodeOfCare.Update, audit: "episode.discharge", data: DischargeSummary,
            asks: id, gives: resource, rest: episodes::discharge,
        }
    }

    service NoteService(note_service_server::NoteServiceServer, note_service_client::NoteServiceClient) {
        CreateNote = create_note(CreateNoteRequest) -> Note {
            needs: DocumentReference.Create, audit: "note.create", data: ClinicalNotes,
            asks: each(note, patient), gives: resource, rest: notes::create,
        }
        GetNote = get_note(GetNoteRequest) -> Note {
            needs: DocumentReference.Read, audit: "note.read", data: ClinicalNotes,
            asks: id, gives: resource, rest: notes::get,
        }
        ListNotes = list_notes(ListNotesRequest) -> ListNotesResponse {
            needs: DocumentReference.Search, audit: "note.search", data: ClinicalNotes,
            asks: patient_filter, gives: each(notes, resource), rest: notes::list,
        }
        UpdateNote = update_note(UpdateNoteRequest) -> Note {
            needs: DocumentReference.Update, audit: "note.update", data: ClinicalNotes,
            asks: each(note, id), gives: resource, rest: notes::update,
        }
        SignNote = sign_note(SignNoteRequest) -> Note {
            needs: DocumentReference.Update, audit: "note.sign", data: ClinicalNotes,
            asks: id, gives: resource, rest: notes::sign,
        }
        AddAddendum = add_addendum(AddAddendumRequest) -> Note {
            needs: DocumentReference.Update, audit: "note.addendum", data: ClinicalNotes,
            asks: id, gives: resource, rest: notes::add_addendum,
        }
    }

    service TreatmentPlanService(treatment_plan_service_server::TreatmentPlanServiceServer, treatment_plan_service_client::TreatmentPlanServiceClient) {
        CreatePlan = create_plan(CreatePlanRequest) -> TreatmentPlan {
            needs: CarePlan.Create, audit: "plan.create", data: TreatmentPlans,
            asks: each(plan, patient), gives: resource, rest: plans::create,
        }
        GetPlan = get_plan(GetPlanRequest) -> TreatmentPlan {
            needs: CarePlan.Read, audit: "plan.read", data: TreatmentPlans,
            asks: id, gives: resource, rest: plans::get,
        }
        ListPlans = list_plans(ListPlansRequest) -> ListPlansResponse {
            needs: CarePlan.Search, audit: "plan.search", data: TreatmentPlans,
            asks: patient_filter, gives: each(plans, resource), rest: plans::list,
        }
        ListPlanVersions = list_plan_versions(ListPlanVersionsRequest) -> ListPlansResponse {
            needs: CarePlan.Read, audit: "plan.versions", data: TreatmentPlans,
            asks: id, gives: each(plans, resource), rest: plans::versions,
        }
        UpdatePlan = update_plan(UpdatePlanRequest) -> TreatmentPlan {
            needs: CarePlan.Update, audit: "plan.update", data: TreatmentPlans,
            asks: each(plan, id), gives: resource, rest: plans::replace,
        }
        SignPlan = sign_plan(SignPlanRequest) -> TreatmentPlan {
            needs: CarePlan.Update, audit: "plan.sign", data: TreatmentPlans,
            asks: id, gives: resource, rest: plans::sign,
        }
        RevisePlan = revise_plan(RevisePlanRequest) -> TreatmentPlan {
            needs: CarePlan.Update, audit: "plan.revise", data: TreatmentPlans,
            asks: id, gives: resource, rest: plans::revise,
        }
        RecordGoalProgress = record_goal_progress(RecordGoalProgressRequest) -> TreatmentPlan {
            needs: CarePlan.Update, audit: "plan.progress", data: TreatmentPlans,
            asks: id, gives: resource, rest: plans::record_progress,
        }
    }

    service ConsentService(consent_service_server::ConsentServiceServer, consent_service_client::ConsentServiceClient) {
        CreateConsent = create_consent(CreateConsentRequest) -> Consent {
            needs: Consent.Create, audit: "consent.create", data: Consents,
            asks: each(consent, patient), gives: resource, rest: consents::create_consent,
        }
        GetConsent = get_consent(GetConsentRequest) -> Consent {
            needs: Consent.Read, audit: "consent.read", data: Consents,
            asks: id, gives: resource, rest: consents::get_consent,
        }
        ListConsents = list_consents(ListConsentsRequest) -> ListConsentsResponse {
            needs: Consent.Search, audit: "consent.search", data: Consents,
            asks: patient_filter, gives: each(consents, resource), rest: consents::list_consents,
        }
        RevokeConsent = revoke_consent(RevokeConsentRequest) -> Consent {
            needs: Consent.Update, audit: "consent.revoke", data: Consents,
            asks: id, gives: resource, rest: consents::revoke_consent,
        }
        CheckDisclosure = check_disclosure(CheckDisclosureRequest) -> DisclosureDecision {
            needs: Consent.Read, audit: "consent.check", data: Consents,
            asks: patient, gives: fields(consent_id, patient_id), rest: consents::check_disclosure,
        }
    }

    service ContactService(contact_service_server::ContactServiceServer, contact_service_client::ContactServiceClient) {
        CreateContact = create_contact(CreateContactRequest) -> Contact {
            needs: RelatedPerson.Create, audit: "contact.create", data: Demographics,
            asks: each(contact, patient), gives: resource, rest: consents::create_contact,
        }
        GetContact = get_contact(GetContactRequest) -> Contact {
            needs: RelatedPerson.Read, audit: "contact.read", data: Demographics,
            asks: id, gives: resource, rest: consents::get_contact,
        }
        ListContacts = list_contacts(ListContactsRequest) -> ListContactsResponse {
            needs: RelatedPerson.Search, audit: "contact.search", data: Demographics,
            asks: patient, gives: each(contacts, resource), rest: consents::list_contacts,
        }
        UpdateContact = update_contact(UpdateContactRequest) -> Contact {
            needs: RelatedPerson.Update, audit: "contact.update", data: Demographics,
            asks: each(contact, id), gives: resource, rest: consents::update_contact,
        }
    }

    service ReferralService(referral_service_server::ReferralServiceServer, referral_service_client::ReferralServiceClient) {
        CreateReferral = create_referral(CreateReferralRequest) -> Referral {
            needs: ServiceRequest.Create, audit: "referral.create", data: Referrals,
            asks: nothing, gives: resource, rest: referrals::create,
        }
        GetReferral = get_referral(GetReferralRequest) -> Referral {
            needs: ServiceRequest.Read, audit: "referral.read", data: Referrals,
            asks: id, gives: resource, rest: referrals::get,
        }
        ListReferrals = list_referrals(ListReferralsRequest) -> ListReferralsResponse {
            needs: ServiceRequest.Search, audit: "referral.search", data: Referrals,
            asks: nothing, gives: each(referrals, resource), rest: referrals::list,
        }
        ReviewReferral = review_referral(ReviewReferralRequest) -> Referral {
            needs: ServiceRequest.Update, audit: "referral.review", data: Referrals,
            asks: id, gives: resource, rest: referrals::review,
        }
        AcceptReferral = accept_referral(AcceptReferralRequest) -> Referral {
            needs: ServiceRequest.Update, audit: "referral.accept", data: Referrals,
            asks: id, gives: resource, rest: referrals::accept,
        }
        ScheduleIntake = schedule_intake(ScheduleIntakeRequest) -> Referral {
            needs: ServiceRequest.Update, audit: "referral.intake", data: Referrals,
            asks: id, gives: resource, rest: referrals::schedule_intake,
        }
        CancelIntake = cancel_intake(CancelIntakeRequest) -> Referral {
            needs: ServiceRequest.Update, audit: "referral.intake_cancel", data: Referrals,
            asks: id, gives: resource, rest: referrals::cancel_intake,
        }
        MarkAdmitted = mark_admitted(MarkAdmittedRequest) -> Referral {
            needs: ServiceRequest.Update, audit: "referral.admit", data: Referrals,
            asks: id, gives: resource, rest: referrals::admit,
        }
        DeclineReferral = decline_referral(DeclineReferralRequest) -> Referral {
            needs: ServiceRequest.Update, audit: "referral.decline", data: Referrals,
            asks: id, gives: resource, rest: referrals::decline,
        }
    }

    service AssessmentService(assessment_service_server::AssessmentServiceServer, assessment_service_client::AssessmentServiceClient) {
        RecordAssessment = record_assessment(RecordAssessmentRequest) -> Assessment {
            needs: QuestionnaireResponse.Create, audit: "assessment.create", data: Assessments,
            asks: each(assessment, patient), gives: resource, rest: assessments::create,
        }
        GetAssessment = get_assessment(GetAssessmentRequest) -> Assessment {
            needs: QuestionnaireResponse.Read, audit: "assessment.read", data: Assessments,
            asks: id, gives: resource, rest: assessments::get,
        }
        ListAssessments = list_assessments(ListAssessmentsRequest) -> ListAssessmentsResponse {
            needs: QuestionnaireResponse.Search, audit: "assessment.search", data: Assessments,
            asks: patient, gives: each(assessments, resource), rest: assessments::list,
        }
        ListSafetyFlags = list_safety_flags(ListSafetyFlagsRequest) -> ListSafetyFlagsResponse {
            needs: Flag.Search, audit: "safetyflag.search", data: Assessments,
            asks: patient_filter, gives: each(flags, resource), rest: assessments::list_flags,
        }
        AcknowledgeSafetyFlag = acknowledge_safety_flag(AcknowledgeSafetyFlagRequest) -> SafetyFlag {
            needs: Flag.Update, audit: "safetyflag.acknowledge", data: Assessments,
            asks: id, gives: resource, rest: assessments::acknowledge,
        }
    }
}
