//! Messages more than one area sends: sex, contact details. Each area's own transport is its
//! `grpc` module; nothing below those sees tonic or prost types.

use iop_core::Error;
use iop_proto::common as pbc;
use iop_proto::records as pb;

use crate::domain::{Address, Contact, Sex};

pub(crate) fn sex_from_proto(value: i32, field: &str) -> Result<Sex, Error> {
    match pb::Sex::try_from(value) {
        Ok(pb::Sex::Unspecified) => Ok(Sex::Unspecified),
        Ok(pb::Sex::Female) => Ok(Sex::Female),
        Ok(pb::Sex::Male) => Ok(Sex::Male),
        Ok(pb::Sex::Other) => Ok(Sex::Other),
        Ok(pb::Sex::Unknown) => Ok(Sex::Unknown),
        Err(_) => Err(Error::field(field, "is not a known value")),
    }
}

pub(crate) fn sex_to_proto(sex: Sex) -> i32 {
    let value = match sex {
        Sex::Unspecified => pb::Sex::Unspecified,
        Sex::Female => pb::Sex::Female,
        Sex::Male => pb::Sex::Male,
        Sex::Other => pb::Sex::Other,
        Sex::Unknown => pb::Sex::Unknown,
    };
    value as i32
}

pub(crate) fn contact_from_proto(c: Option<&pbc::ContactInfo>) -> Contact {
    let Some(c) = c else {
        return Contact::default();
    };
    Contact {
        phone: c.phone.clone(),
        email: c.email.clone(),
        address: c.address.as_ref().map(|a| Address {
            lines: a.lines.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }),
    }
}

pub(crate) fn contact_to_proto(c: &Contact) -> pbc::ContactInfo {
    pbc::ContactInfo {
        phone: c.phone.clone(),
        email: c.email.clone(),
        address: c.address.as_ref().map(|a| pbc::PostalAddress {
            lines: a.lines.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }),
    }
}
