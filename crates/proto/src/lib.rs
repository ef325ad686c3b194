//! Generated protobuf and gRPC code for the IOP services.
#![allow(clippy::all, clippy::pedantic)]

pub mod iop {
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("iop.audit.v1");
        }
    }
    pub mod clients {
        pub mod v1 {
            tonic::include_proto!("iop.clients.v1");
        }
    }
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("iop.common.v1");
        }
    }
    pub mod groups {
        pub mod v1 {
            tonic::include_proto!("iop.groups.v1");
        }
    }
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("iop.internal.v1");
        }
    }
    pub mod records {
        pub mod v1 {
            tonic::include_proto!("iop.records.v1");
        }
    }
    pub mod scheduling {
        pub mod v1 {
            tonic::include_proto!("iop.scheduling.v1");
        }
    }
}

pub use iop::audit::v1 as audit;
pub use iop::clients::v1 as clients;
pub use iop::common::v1 as common;
pub use iop::groups::v1 as groups;
pub use iop::internal::v1 as internal;
pub use iop::records::v1 as records;
pub use iop::scheduling::v1 as scheduling;

/// A UTC instant stored as microseconds since the epoch, as a protobuf `Timestamp`.
pub fn timestamp_from_micros(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Microseconds since the epoch of a protobuf `Timestamp`.
pub fn micros_from_timestamp(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(t.nanos) / 1000)
}

/// Encoded `FileDescriptorSet` of every IOP proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/iop_descriptor.bin"));

/// gRPC server reflection listing exactly `services` (and the health service), in both
/// protocol versions: `grpc.reflection.v1` and the `v1alpha` that many tools still speak
/// only (older grpcurl and Postman, the Python reflection client).
pub fn reflection(
    services: &[&str],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    tonic_reflection::server::Error,
> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for s in services {
            b = b.with_service_name(*s);
        }
        b
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}
