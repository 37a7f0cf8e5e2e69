//! Generates the Rust types and tonic stubs for every contract under
//! `clustergenie/`, with protox so no system `protoc` is needed, and writes the
//! encoded descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut protos = Vec::new();
    // google/rpc holds the error details we attach: compiled so reflection
    // can describe them to clients such as grpcurl.
    for dir in ["clustergenie", "google"] {
        collect(&root.join(dir), &mut protos)?;
        println!("cargo:rerun-if-changed={dir}");
    }
    protos.sort();

    let fds = protox::compile(&protos, [&root])?;
    // include_imports is on in protox::compile, so google.protobuf types
    // resolve in grpcurl without the well-known types being bundled there.
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("clustergenie_descriptor.bin"), fds.encode_to_vec())?;

    // `prost::Name` on every message: an event's type header is its full
    // name, taken from the type instead of typed by hand.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        // Services whose issue has not landed answer UNIMPLEMENTED through
        // these defaults instead of hand-written stubs.
        .generate_default_stubs(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}

fn collect(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
