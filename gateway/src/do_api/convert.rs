//! ClusterGenie's protobuf objects as DigitalOcean's JSON ones.

use std::time::{Duration, SystemTime};

use clustergenie_proto::provisioning::v1 as ppb;

use super::model;

/// The catalog, fetched once: it is static in the simulated cloud.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub sizes: Vec<ppb::Size>,
    pub regions: Vec<ppb::Region>,
    pub images: Vec<ppb::Image>,
}

/// Features every simulated region offers.
const REGION_FEATURES: [&str; 4] = ["backups", "ipv6", "metadata", "private_networking"];

/// Timestamps in DigitalOcean's form, `2026-11-29T15:00:00Z`.
pub fn rfc3339(t: Option<&prost_types::Timestamp>) -> String {
    let at = t.map_or(SystemTime::UNIX_EPOCH, |t| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.seconds).unwrap_or_default())
    });
    humantime::format_rfc3339_seconds(at).to_string()
}

fn positive(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

fn count(n: i32) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

impl Catalog {
    pub fn size(&self, slug: &str) -> Option<&ppb::Size> {
        self.sizes.iter().find(|s| s.slug == slug)
    }

    pub fn region(&self, slug: &str) -> Option<&ppb::Region> {
        self.regions.iter().find(|r| r.slug == slug)
    }

    pub fn image_by_slug(&self, slug: &str) -> Option<&ppb::Image> {
        self.images.iter().find(|i| i.slug == slug)
    }

    pub fn image_by_number(&self, number: i64) -> Option<&ppb::Image> {
        self.images.iter().find(|i| i.number == number)
    }

    pub fn size_json(&self, s: &ppb::Size) -> model::Size {
        #[allow(clippy::cast_precision_loss)] // cents and micros of a VM's price
        let (monthly, hourly) = (
            s.price_monthly_cents as f64 / 100.0,
            s.price_hourly_micros as f64 / 1_000_000.0,
        );
        model::Size {
            slug: s.slug.clone(),
            memory: count(s.memory_mb),
            vcpus: count(s.vcpus),
            disk: count(s.disk_gb),
            transfer: f64::from(s.transfer_tb),
            price_monthly: monthly,
            price_hourly: hourly,
            regions: s.regions.clone(),
            available: true,
            description: s.description.clone(),
        }
    }

    pub fn region_json(&self, r: &ppb::Region) -> model::Region {
        model::Region {
            name: r.name.clone(),
            slug: r.slug.clone(),
            features: REGION_FEATURES.map(String::from).to_vec(),
            available: r.available,
            sizes: r.sizes.clone(),
        }
    }

    /// A region the catalog does not know (a droplet from an older
    /// catalog) still has an object: clients dereference it.
    fn region_or_stub(&self, slug: &str) -> model::Region {
        self.region(slug).map_or_else(
            || model::Region {
                name: slug.to_string(),
                slug: slug.to_string(),
                features: Vec::new(),
                available: false,
                sizes: Vec::new(),
            },
            |r| self.region_json(r),
        )
    }

    pub fn image_json(&self, i: &ppb::Image) -> model::Image {
        model::Image {
            id: positive(i.number),
            name: i.name.clone(),
            distribution: i.distribution.clone(),
            slug: Some(i.slug.clone()),
            public: true,
            regions: self.regions.iter().map(|r| r.slug.clone()).collect(),
            created_at: "2024-01-01T00:00:00Z".into(),
            kind: model::ImageType::Base,
            min_disk_size: count(i.min_disk_gb),
            size_gigabytes: 2.36,
            description: String::new(),
            tags: Vec::new(),
            status: "available".into(),
            error_message: String::new(),
        }
    }

    /// A droplet's snapshot as an image: its id is the snapshot action's.
    pub fn snapshot_json(&self, a: &ppb::DropletAction, droplet: &ppb::Droplet) -> model::Image {
        let name = match &a.params {
            Some(ppb::droplet_action::Params::Snapshot(p)) => p.name.clone(),
            _ => String::new(),
        };
        let base = self.image_by_slug(&droplet.image);
        model::Image {
            id: positive(a.number),
            name,
            distribution: base.map_or_else(String::new, |i| i.distribution.clone()),
            slug: None,
            public: false,
            regions: vec![a.region.clone()],
            created_at: rfc3339(a.completed_at.as_ref()),
            kind: model::ImageType::Snapshot,
            min_disk_size: count(droplet.disk_gb),
            size_gigabytes: f64::from(droplet.disk_gb) / 10.0,
            description: String::new(),
            tags: Vec::new(),
            status: "available".into(),
            error_message: String::new(),
        }
    }

    pub fn droplet_json(&self, d: &ppb::Droplet) -> model::Droplet {
        use ppb::DropletStatus as S;
        let status = match S::try_from(d.status).unwrap_or(S::Unspecified) {
            S::New | S::Unspecified => model::DropletStatus::New,
            S::Active => model::DropletStatus::Active,
            S::Off => model::DropletStatus::Off,
            S::Archive => model::DropletStatus::Archive,
        };
        let size = self.size(&d.size).map_or_else(
            || model::Size {
                slug: d.size.clone(),
                memory: count(d.memory_mb),
                vcpus: count(d.vcpus),
                disk: count(d.disk_gb),
                transfer: 0.0,
                price_monthly: 0.0,
                price_hourly: 0.0,
                regions: Vec::new(),
                available: false,
                description: String::new(),
            },
            |s| self.size_json(s),
        );
        let image = self.image_by_slug(&d.image).map_or_else(
            || model::Image {
                id: 1,
                name: d.image.clone(),
                distribution: String::new(),
                slug: Some(d.image.clone()),
                public: true,
                regions: Vec::new(),
                created_at: "2024-01-01T00:00:00Z".into(),
                kind: model::ImageType::Base,
                min_disk_size: 0,
                size_gigabytes: 0.0,
                description: String::new(),
                tags: Vec::new(),
                status: "available".into(),
                error_message: String::new(),
            },
            |i| self.image_json(i),
        );
        // Addresses appear once the droplet has booted, as on DigitalOcean.
        let networks = if status == model::DropletStatus::New {
            model::Networks::default()
        } else {
            model::Networks {
                v4: vec![
                    network(&d.private_ipv4, "255.255.0.0", model::NetworkType::Private),
                    network(&d.public_ipv4, "255.255.240.0", model::NetworkType::Public),
                ],
                v6: Vec::new(),
            }
        };
        model::Droplet {
            id: positive(d.number),
            name: d.name.clone(),
            memory: count(d.memory_mb),
            vcpus: count(d.vcpus),
            disk: count(d.disk_gb),
            locked: d.locked,
            status,
            created_at: rfc3339(d.create_time.as_ref()),
            kernel: model::Null,
            features: vec!["private_networking".into()],
            backup_ids: Vec::new(),
            next_backup_window: model::Null,
            snapshot_ids: d.snapshot_ids.iter().map(|n| positive(*n)).collect(),
            volume_ids: Vec::new(),
            tags: d.tags.clone(),
            vpc_uuid: vpc_uuid(&d.region),
            image,
            size,
            size_slug: d.size.clone(),
            networks,
            region: self.region_or_stub(&d.region),
        }
    }

    /// `droplet_number` is the number of the action's droplet.
    pub fn action_json(&self, a: &ppb::DropletAction, droplet_number: i64) -> model::Action {
        use ppb::ActionStatus as S;
        let status = match S::try_from(a.status).unwrap_or(S::Unspecified) {
            S::InProgress | S::Unspecified => model::ActionStatus::InProgress,
            S::Completed => model::ActionStatus::Completed,
            S::Errored => model::ActionStatus::Errored,
        };
        model::Action {
            id: positive(a.number),
            status,
            kind: action_kind(a.r#type).to_string(),
            started_at: rfc3339(a.started_at.as_ref()),
            completed_at: a.completed_at.as_ref().map(|t| rfc3339(Some(t))),
            resource_id: positive(droplet_number),
            resource_type: model::ResourceType::Droplet,
            region: Some(self.region_or_stub(&a.region)),
            region_slug: a.region.clone(),
        }
    }
}

fn network(ip: &str, netmask: &str, kind: model::NetworkType) -> model::NetworkV4 {
    // The simulated networks' gateway is the block's first address.
    let gateway = ip
        .rsplit_once('.')
        .map_or_else(String::new, |(net, _)| format!("{net}.1"));
    model::NetworkV4 {
        ip_address: ip.to_string(),
        netmask: netmask.to_string(),
        gateway,
        kind,
    }
}

/// One default VPC per region, stable across calls.
fn vpc_uuid(region: &str) -> String {
    use sha2::Digest as _;
    let h: String = sha2::Sha256::digest(format!("clustergenie:vpc:{region}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// DigitalOcean's name of an action type.
pub fn action_kind(raw: i32) -> &'static str {
    use ppb::ActionType as T;
    match T::try_from(raw).unwrap_or(T::Unspecified) {
        T::Resize => "resize",
        T::Reboot => "reboot",
        T::PowerCycle => "power_cycle",
        T::PowerOff => "power_off",
        T::PowerOn => "power_on",
        T::Shutdown => "shutdown",
        T::Snapshot => "snapshot",
        T::Rename => "rename",
        T::Destroy => "destroy",
        T::Create => "create",
        T::Unspecified => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog {
            sizes: vec![ppb::Size {
                slug: "s-1vcpu-1gb".into(),
                vcpus: 1,
                memory_mb: 1024,
                disk_gb: 25,
                transfer_tb: 1,
                price_monthly_cents: 600,
                price_hourly_micros: 8_930,
                description: "Basic".into(),
                regions: vec!["nyc1".into()],
            }],
            regions: vec![ppb::Region {
                slug: "nyc1".into(),
                name: "New York 1".into(),
                available: true,
                capacity: 10,
                sizes: vec!["s-1vcpu-1gb".into()],
            }],
            images: vec![ppb::Image {
                slug: "ubuntu-24-04-x64".into(),
                distribution: "Ubuntu".into(),
                name: "24.04 (LTS) x64".into(),
                min_disk_gb: 7,
                number: 1001,
            }],
        }
    }

    fn droplet(status: ppb::DropletStatus) -> ppb::Droplet {
        ppb::Droplet {
            id: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6".into(),
            number: 100_042,
            name: "web-1".into(),
            region: "nyc1".into(),
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            status: status as i32,
            vcpus: 1,
            memory_mb: 1024,
            disk_gb: 25,
            public_ipv4: "104.131.0.7".into(),
            private_ipv4: "10.10.0.7".into(),
            snapshot_ids: vec![100_050],
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_droplet_has_every_object_but_no_addresses_yet() {
        let d = catalog().droplet_json(&droplet(ppb::DropletStatus::New));
        assert_eq!((d.id, d.status), (100_042, model::DropletStatus::New));
        assert!(d.networks.v4.is_empty() && d.networks.v6.is_empty());
        assert_eq!(d.image.id, 1001);
        assert_eq!(d.size.slug, "s-1vcpu-1gb");
        assert_eq!(d.region.slug, "nyc1");
        assert_eq!(d.snapshot_ids, [100_050]);
        assert_eq!(d.created_at, "2023-11-14T22:13:20Z");
    }

    #[test]
    fn an_active_droplet_has_a_public_and_a_private_address() {
        let d = catalog().droplet_json(&droplet(ppb::DropletStatus::Active));
        let kinds: Vec<_> = d.networks.v4.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [model::NetworkType::Private, model::NetworkType::Public]
        );
        assert_eq!(d.networks.v4[1].gateway, "104.131.0.1");
    }

    #[test]
    fn a_completed_action_names_its_droplet_by_number_and_has_completed_at() {
        let a = ppb::DropletAction {
            number: 100_043,
            r#type: ppb::ActionType::PowerOff as i32,
            status: ppb::ActionStatus::Completed as i32,
            region: "nyc1".into(),
            started_at: Some(prost_types::Timestamp::default()),
            completed_at: Some(prost_types::Timestamp {
                seconds: 60,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = catalog().action_json(&a, 100_042);
        assert_eq!(json.kind, "power_off");
        assert_eq!(json.resource_id, 100_042);
        assert_eq!(json.completed_at.as_deref(), Some("1970-01-01T00:01:00Z"));
        assert_eq!(json.region.map(|r| r.slug).as_deref(), Some("nyc1"));
    }

    #[test]
    fn prices_come_from_cents_and_micros() {
        let c = catalog();
        let s = c.size_json(&c.sizes[0]);
        assert!((s.price_monthly - 6.0).abs() < 1e-9);
        assert!((s.price_hourly - 0.00893).abs() < 1e-9);
    }
}
