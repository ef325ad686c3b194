//! The clinic's treatment programs: who each treats, at which ASAM level of care, with which
//! therapies, how many hours a week it expects, who staffs it, and whether it is a 42 CFR
//! Part 2 substance use disorder program.

pub mod grpc;
pub mod store;

use std::sync::Arc;

use iop_core::{ClinicianId, Error, Principal, ProgramId, page};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use crate::sites::Sites;
use store::ProgramStore;

pub(crate) const KIND: &str = "program";

/// The most clinicians a program lists as its staff.
pub const MAX_STAFF: usize = 50;

iop_kit::text_enum! {
    /// Who a program treats.
    pub enum Population: iop_proto::records::Population {
        Adult = "adult",
        Adolescent = "adolescent",
    }
}

impl Population {
    /// Treatment minutes a week an IOP expects of a patient unless the program says
    /// otherwise: ASAM level 2.1 is 9 or more hours a week for adults, 6 or more for
    /// adolescents (The ASAM Criteria, 3rd ed., Level 2.1 Intensive Outpatient Services).
    pub fn default_weekly_minutes(self) -> i32 {
        match self {
            Self::Adult => 9 * 60,
            Self::Adolescent => 6 * 60,
        }
    }
}

iop_kit::text_enum! {
    /// The ASAM Criteria level of care a program provides: levels 1, 2.1, 2.5, 3.x and 4,
    /// and recovery support (aftercare, alumni groups).
    pub enum LevelOfCare: iop_proto::records::LevelOfCare {
        Outpatient = "outpatient",
        IntensiveOutpatient = "intensive_outpatient",
        PartialHospitalization = "partial_hospitalization",
        Residential = "residential",
        Inpatient = "inpatient",
        RecoverySupport = "recovery_support",
    }
}

iop_kit::text_enum! {
    /// A therapy a program offers.
    pub enum Treatment: iop_proto::groups::Treatment {
        GroupTherapy = "group_therapy",
        IndividualTherapy = "individual_therapy",
        Psychoeducation = "psychoeducation",
        FamilyTherapy = "family_therapy",
        MindfulnessAndRelaxation = "mindfulness_and_relaxation",
        RelapsePrevention = "relapse_prevention",
        MedicationManagement = "medication_management",
        CopingSkills = "coping_skills",
    }
}

iop_kit::text_enum! {
    /// How a program or a track meets; only a program is hybrid.
    pub enum Modality: iop_proto::groups::GroupModality {
        InPerson = "in_person",
        Telehealth = "telehealth",
        Hybrid = "hybrid",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: ProgramId,
    pub name: String,
    pub description: String,
    pub population: Population,
    pub level_of_care: LevelOfCare,
    pub substance_use_disorder: bool,
    pub therapies: Vec<Treatment>,
    pub modality: Modality,
    pub expected_weeks: i32,
    pub weekly_minutes: i32,
    pub staff_clinician_ids: Vec<ClinicianId>,
    pub active: bool,
    pub create_time_us: i64,
    /// 1 when created, one more with every change.
    pub version: i64,
}

impl Program {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }

    /// Its fields as a client would send them to create it again.
    fn as_new(&self) -> NewProgram {
        NewProgram {
            name: self.name.clone(),
            description: self.description.clone(),
            population: Some(self.population),
            level_of_care: Some(self.level_of_care),
            substance_use_disorder: self.substance_use_disorder,
            therapies: self.therapies.clone(),
            modality: Some(self.modality),
            expected_weeks: self.expected_weeks,
            weekly_minutes: self.weekly_minutes,
            staff_clinician_ids: self.staff_clinician_ids.clone(),
            active: self.active,
        }
    }
}

iop_kit::text_enum! {
    /// A field of a program an update may change (its update mask's paths).
    pub enum ProgramPath {
        Name = "name",
        Description = "description",
        Population = "population",
        LevelOfCare = "level_of_care",
        SubstanceUseDisorder = "substance_use_disorder",
        Therapies = "therapies",
        Modality = "modality",
        ExpectedWeeks = "expected_weeks",
        WeeklyMinutes = "weekly_minutes",
        StaffClinicianIds = "staff_clinician_ids",
        Active = "active",
    }
}

/// What a client sends to create one.
#[derive(Debug, Clone, Default, Hash)]
pub struct NewProgram {
    pub name: String,
    pub description: String,
    pub population: Option<Population>,
    pub level_of_care: Option<LevelOfCare>,
    pub substance_use_disorder: bool,
    pub therapies: Vec<Treatment>,
    pub modality: Option<Modality>,
    pub expected_weeks: i32,
    /// 0: the population's default.
    pub weekly_minutes: i32,
    pub staff_clinician_ids: Vec<ClinicianId>,
    pub active: bool,
}

impl NewProgram {
    /// `self` with the fields `paths` name taken from `change`.
    fn with(mut self, change: NewProgram, paths: &[ProgramPath]) -> Self {
        for path in paths {
            match path {
                ProgramPath::Name => self.name = change.name.clone(),
                ProgramPath::Description => self.description = change.description.clone(),
                ProgramPath::Population => self.population = change.population,
                ProgramPath::LevelOfCare => self.level_of_care = change.level_of_care,
                ProgramPath::SubstanceUseDisorder => {
                    self.substance_use_disorder = change.substance_use_disorder
                }
                ProgramPath::Therapies => self.therapies = change.therapies.clone(),
                ProgramPath::Modality => self.modality = change.modality,
                ProgramPath::ExpectedWeeks => self.expected_weeks = change.expected_weeks,
                ProgramPath::WeeklyMinutes => self.weekly_minutes = change.weekly_minutes,
                ProgramPath::StaffClinicianIds => {
                    self.staff_clinician_ids = change.staff_clinician_ids.clone()
                }
                ProgramPath::Active => self.active = change.active,
            }
        }
        self
    }

    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("program.");
        v.text("name", &self.name, text::NAME);
        v.text("description", &self.description, text::NARRATIVE);
        if self.population.is_none() {
            v.push("population", "is required");
        }
        if self.level_of_care.is_none() {
            v.push("level_of_care", "is required");
        }
        if self.therapies.is_empty() {
            v.push("therapies", "must list at least one");
        }
        v.unique("therapies", &self.therapies);
        if self.modality.is_none() {
            v.push("modality", "is required");
        }
        if !(1..=52).contains(&self.expected_weeks) {
            v.push("expected_weeks", "must be 1 to 52");
        }
        if self.weekly_minutes != 0 && !(60..=2400).contains(&self.weekly_minutes) {
            v.push(
                "weekly_minutes",
                "must be 60 to 2400 (or 0 for the population's default)",
            );
        }
        if self.staff_clinician_ids.len() > MAX_STAFF {
            v.push("staff_clinician_ids", "may list at most 50");
        }
        v.unique("staff_clinician_ids", &self.staff_clinician_ids);
        v.finish()
    }
}

#[derive(Clone)]
pub struct Programs {
    store: ProgramStore,
    sites: Arc<dyn Sites>,
}

impl Programs {
    pub fn new(store: ProgramStore, sites: Arc<dyn Sites>) -> Self {
        Self { store, sites }
    }

    /// Creates a program; its name is unique within the clinic (409 otherwise), its staff
    /// are active clinicians of the scheduling service.
    pub async fn create(
        &self,
        who: &Principal,
        new: NewProgram,
        request_id: &str,
    ) -> Result<Program, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        let (Some(population), Some(level_of_care), Some(modality)) =
            (new.population, new.level_of_care, new.modality)
        else {
            return Err(Error::internal("validated fields are missing"));
        };
        crate::staff::check_active(
            self.sites.as_ref(),
            who,
            "program.staff_clinician_ids",
            &new.staff_clinician_ids,
            &[],
        )
        .await?;
        let program = Program {
            id: ProgramId::new(),
            name: new.name.trim().to_owned(),
            description: new.description.trim().to_owned(),
            population,
            level_of_care,
            substance_use_disorder: new.substance_use_disorder,
            therapies: new.therapies,
            modality,
            expected_weeks: new.expected_weeks,
            weekly_minutes: match new.weekly_minutes {
                0 => population.default_weekly_minutes(),
                set => set,
            },
            staff_clinician_ids: new.staff_clinician_ids,
            active: new.active,
            create_time_us: iop_core::now_micros(),
            version: 1,
        };
        let claim = self
            .store
            .insert(&who.tenant, &program, key.as_ref())
            .await?;
        idempotency::answer(
            claim,
            program,
            "create a different program",
            |id| async move {
                let id = ProgramId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad program id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: ProgramId) -> Result<Program, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "program",
                id: id.to_string(),
            })
    }

    /// Changes the fields `paths` name (all when empty) unless `etag` is set and not the
    /// current one (409, read again). The result is checked as a new program would be
    /// (`weekly_minutes` 0 takes the population's default); staff added by the change must
    /// be active clinicians (those already listed stay, active or not, until removed).
    pub async fn update(
        &self,
        who: &Principal,
        id: ProgramId,
        change: NewProgram,
        paths: &[ProgramPath],
        etag: &str,
    ) -> Result<Program, Error> {
        let current = self.get(who, id).await?;
        iop_kit::etag::check(etag, &current.etag(), KIND, &id)?;
        let paths = if paths.is_empty() {
            ProgramPath::ALL
        } else {
            paths
        };
        let next = current.as_new().with(change, paths);
        next.check()?;
        crate::staff::check_active(
            self.sites.as_ref(),
            who,
            "program.staff_clinician_ids",
            &next.staff_clinician_ids,
            &current.staff_clinician_ids,
        )
        .await?;
        let (Some(population), Some(level_of_care), Some(modality)) =
            (next.population, next.level_of_care, next.modality)
        else {
            return Err(Error::internal("validated fields are missing"));
        };
        let updated = Program {
            id,
            name: next.name.trim().to_owned(),
            description: next.description.trim().to_owned(),
            population,
            level_of_care,
            substance_use_disorder: next.substance_use_disorder,
            therapies: next.therapies,
            modality,
            expected_weeks: next.expected_weeks,
            weekly_minutes: match next.weekly_minutes {
                0 => population.default_weekly_minutes(),
                set => set,
            },
            staff_clinician_ids: next.staff_clinician_ids,
            active: next.active,
            create_time_us: current.create_time_us,
            version: current.version + 1,
        };
        if !self
            .store
            .update(&who.tenant, &updated, current.version)
            .await?
        {
            return Err(iop_kit::etag::stale(KIND, &id));
        }
        Ok(updated)
    }

    /// A page of programs, oldest first.
    pub async fn list(
        &self,
        who: &Principal,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Program>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&["programs"]);
        let after = page::resume_after(page_token, query, |s| ProgramId::parse("id", s))?;
        let mut rows = self.store.list(&who.tenant, after, false, size + 1).await?;
        let next = page::next_page(&mut rows, size, query, |p| p.id.to_string());
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests;
