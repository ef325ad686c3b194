//! Compiles every `.proto` under `proto/` with protox (no system protoc) and writes the
//! descriptor set that the servers publish through gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "iop/audit/v1/audit.proto",
        "iop/clients/v1/clients.proto",
        "iop/common/v1/common.proto",
        "iop/groups/v1/programs.proto",
        "iop/internal/v1/feeds.proto",
        "iop/internal/v1/owners.proto",
        "iop/records/v1/assessments.proto",
        "iop/records/v1/consents.proto",
        "iop/records/v1/episodes.proto",
        "iop/records/v1/notes.proto",
        "iop/records/v1/patients.proto",
        "iop/records/v1/plans.proto",
        "iop/records/v1/referrals.proto",
        "iop/scheduling/v1/appointments.proto",
        "iop/scheduling/v1/availability.proto",
        "iop/scheduling/v1/kinds.proto",
        "iop/scheduling/v1/clinicians.proto",
        "iop/scheduling/v1/feeds.proto",
        "iop/scheduling/v1/locations.proto",
        "iop/scheduling/v1/waitlist.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("iop_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
