//! ClusterGenie's protobuf contracts: messages, tonic clients and servers.
//!
//! Generated at build time from `proto/clustergenie/**`. The module tree
//! mirrors the protobuf packages.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

/// The encoded `FileDescriptorSet` of every contract (imports included), for
/// server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/clustergenie_descriptor.bin"));

pub mod provisioning {
    pub mod v1 {
        tonic::include_proto!("clustergenie.provisioning.v1");
    }
}

pub mod jobs {
    pub mod v1 {
        tonic::include_proto!("clustergenie.jobs.v1");
    }
}

pub mod diagnosis {
    pub mod v1 {
        tonic::include_proto!("clustergenie.diagnosis.v1");
    }
}

pub mod monitoring {
    pub mod v1 {
        tonic::include_proto!("clustergenie.monitoring.v1");
    }
}

pub mod scaler {
    pub mod v1 {
        tonic::include_proto!("clustergenie.scaler.v1");
    }
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("clustergenie.events.v1");
    }
}

pub mod system {
    pub mod v1 {
        tonic::include_proto!("clustergenie.system.v1");
    }
}

pub mod gateway {
    pub mod v1 {
        tonic::include_proto!("clustergenie.gateway.v1");
    }
}
