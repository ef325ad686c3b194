//! Messages more than one area sends: contact details. Each area's own transport is its
//! `grpc` module; nothing below those sees tonic or prost types.

use iop_proto::common as pbc;

use crate::domain::{Address, Contact};

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
