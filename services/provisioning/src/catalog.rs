//! What the simulated cloud sells: regions, sizes and images, with
//! DigitalOcean's slugs and prices.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub slug: &'static str,
    pub name: &'static str,
    /// First two octets of the region's public address block.
    pub public_prefix: (u8, u8),
    /// Second octet of the region's private 10.x block.
    pub private_octet: u8,
    /// Sizes not offered here.
    pub missing_sizes: &'static [&'static str],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    pub slug: &'static str,
    pub vcpus: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
    pub transfer_tb: u32,
    pub price_monthly_cents: i64,
    pub price_hourly_micros: i64,
    pub description: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// DigitalOcean's integer image id: fixed per image, never reused
    /// (droplets and actions are numbered from 100001).
    pub number: i64,
    pub slug: &'static str,
    pub distribution: &'static str,
    pub name: &'static str,
    pub min_disk_gb: u32,
}

const fn region(
    slug: &'static str,
    name: &'static str,
    public_prefix: (u8, u8),
    private_octet: u8,
    missing_sizes: &'static [&'static str],
) -> Region {
    Region {
        slug,
        name,
        public_prefix,
        private_octet,
        missing_sizes,
    }
}

pub static REGIONS: &[Region] = &[
    region("nyc1", "New York 1", (104, 131), 10, &[]),
    region("nyc3", "New York 3", (159, 65), 11, &[]),
    region("sfo3", "San Francisco 3", (137, 184), 12, &[]),
    region("ams3", "Amsterdam 3", (188, 166), 13, &[]),
    region("lon1", "London 1", (178, 62), 14, &[]),
    region("fra1", "Frankfurt 1", (46, 101), 15, &[]),
    region("tor1", "Toronto 1", (159, 203), 16, &[]),
    region("sgp1", "Singapore 1", (128, 199), 17, &[]),
    region("blr1", "Bangalore 1", (139, 59), 18, &["m-2vcpu-16gb"]),
    region(
        "syd1",
        "Sydney 1",
        (170, 64),
        19,
        &["m-2vcpu-16gb", "g-2vcpu-8gb"],
    ),
];

#[allow(clippy::too_many_arguments)]
const fn size(
    slug: &'static str,
    vcpus: u32,
    memory_mb: u32,
    disk_gb: u32,
    transfer_tb: u32,
    price_monthly_cents: i64,
    price_hourly_micros: i64,
    description: &'static str,
) -> Size {
    Size {
        slug,
        vcpus,
        memory_mb,
        disk_gb,
        transfer_tb,
        price_monthly_cents,
        price_hourly_micros,
        description,
    }
}

pub static SIZES: &[Size] = &[
    size("s-1vcpu-512mb-10gb", 1, 512, 10, 1, 400, 5_950, "Basic"),
    size("s-1vcpu-1gb", 1, 1024, 25, 1, 600, 8_930, "Basic"),
    size("s-1vcpu-2gb", 1, 2048, 50, 2, 1_200, 17_860, "Basic"),
    size("s-2vcpu-2gb", 2, 2048, 60, 3, 1_800, 26_790, "Basic"),
    size("s-2vcpu-4gb", 2, 4096, 80, 4, 2_400, 35_710, "Basic"),
    size("s-4vcpu-8gb", 4, 8192, 160, 5, 4_800, 71_430, "Basic"),
    size("s-8vcpu-16gb", 8, 16384, 320, 6, 9_600, 142_860, "Basic"),
    size("c-2", 2, 4096, 25, 4, 4_200, 62_500, "CPU-Optimized"),
    size("c-4", 4, 8192, 50, 5, 8_400, 125_000, "CPU-Optimized"),
    size(
        "g-2vcpu-8gb",
        2,
        8192,
        25,
        4,
        6_300,
        93_750,
        "General Purpose",
    ),
    size(
        "m-2vcpu-16gb",
        2,
        16384,
        50,
        4,
        8_400,
        125_000,
        "Memory-Optimized",
    ),
];

pub static IMAGES: &[Image] = &[
    Image {
        number: 1001,
        slug: "ubuntu-24-04-x64",
        distribution: "Ubuntu",
        name: "24.04 (LTS) x64",
        min_disk_gb: 7,
    },
    Image {
        number: 1002,
        slug: "ubuntu-22-04-x64",
        distribution: "Ubuntu",
        name: "22.04 (LTS) x64",
        min_disk_gb: 7,
    },
    Image {
        number: 1003,
        slug: "debian-12-x64",
        distribution: "Debian",
        name: "12 x64",
        min_disk_gb: 7,
    },
    Image {
        number: 1004,
        slug: "fedora-40-x64",
        distribution: "Fedora",
        name: "40 x64",
        min_disk_gb: 10,
    },
    Image {
        number: 1005,
        slug: "rockylinux-9-x64",
        distribution: "Rocky Linux",
        name: "9 x64",
        min_disk_gb: 10,
    },
    Image {
        number: 1006,
        slug: "almalinux-9-x64",
        distribution: "AlmaLinux",
        name: "9 x64",
        min_disk_gb: 10,
    },
];

pub fn region_by_slug(slug: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.slug == slug)
}

pub fn size_by_slug(slug: &str) -> Option<&'static Size> {
    SIZES.iter().find(|s| s.slug == slug)
}

pub fn image_by_slug(slug: &str) -> Option<&'static Image> {
    IMAGES.iter().find(|i| i.slug == slug)
}

impl Region {
    pub fn offers(&self, size: &str) -> bool {
        size_by_slug(size).is_some() && !self.missing_sizes.contains(&size)
    }

    pub fn sizes(&self) -> impl Iterator<Item = &'static Size> + '_ {
        SIZES.iter().filter(|s| self.offers(s.slug))
    }
}

impl Size {
    pub fn regions(&self) -> impl Iterator<Item = &'static Region> + '_ {
        REGIONS.iter().filter(|r| r.offers(self.slug))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique() {
        let mut r: Vec<_> = REGIONS.iter().map(|r| r.slug).collect();
        let mut s: Vec<_> = SIZES.iter().map(|s| s.slug).collect();
        r.sort_unstable();
        r.dedup();
        s.sort_unstable();
        s.dedup();
        assert_eq!(r.len(), REGIONS.len());
        assert_eq!(s.len(), SIZES.len());
    }

    #[test]
    fn every_region_offers_the_smallest_basic_size() {
        assert!(REGIONS.iter().all(|r| r.offers("s-1vcpu-1gb")));
    }

    #[test]
    fn every_image_fits_on_some_size() {
        for image in IMAGES {
            assert!(
                SIZES.iter().any(|s| s.disk_gb >= image.min_disk_gb),
                "{}",
                image.slug
            );
        }
    }

    #[test]
    fn missing_sizes_are_not_offered() {
        let blr = region_by_slug("blr1").unwrap();
        assert!(!blr.offers("m-2vcpu-16gb"));
        assert!(!blr.offers("no-such-size"));
    }
}
