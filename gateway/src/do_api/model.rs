//! The JSON objects of the DigitalOcean API v2–compatible REST surface.
//!
//! Shapes follow what DigitalOcean's own clients (godo/doctl, pydo,
//! python-digitalocean, the Terraform provider) actually read and send, not
//! only the OpenAPI spec: every object a client dereferences is always
//! present, every id is a JSON integer (godo decodes into `int`), and request
//! bodies are lenient because the clients disagree on nulls, extra fields and
//! even booleans.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser::SerializeMap};

/// Serializes as `null` and nothing else. DigitalOcean sends `kernel` and
/// `next_backup_window` as null keys; a type that cannot hold a value keeps
/// anyone from filling them with a shape godo would fail to decode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Null;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropletStatus {
    New,
    Active,
    Off,
    Archive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Droplet {
    pub id: u64,
    pub name: String,
    /// MB, as godo and doctl display it.
    pub memory: u64,
    pub vcpus: u64,
    /// GB.
    pub disk: u64,
    /// Terraform waits for `locked == false` as well as for the status.
    pub locked: bool,
    pub status: DropletStatus,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default)]
    pub kernel: Null,
    /// Never null: python-digitalocean evaluates `"backups" in features`.
    pub features: Vec<String>,
    pub backup_ids: Vec<u64>,
    #[serde(default)]
    pub next_backup_window: Null,
    pub snapshot_ids: Vec<u64>,
    /// The one id list of strings: godo declares it `[]string`.
    pub volume_ids: Vec<String>,
    pub tags: Vec<String>,
    pub vpc_uuid: String,
    // Never null: Terraform and doctl's text output dereference image,
    // size, networks and region without a nil check.
    pub image: Image,
    pub size: Size,
    pub size_slug: String,
    pub networks: Networks,
    pub region: Region,
}

/// Both lists are always present, empty for a new droplet:
/// python-digitalocean indexes `networks['v4']` and `networks['v6']`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Networks {
    pub v4: Vec<NetworkV4>,
    pub v6: Vec<NetworkV6>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    Public,
    Private,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkV4 {
    pub ip_address: String,
    /// A dotted quad: godo declares a string here but an int for v6.
    pub netmask: String,
    pub gateway: String,
    #[serde(rename = "type")]
    pub kind: NetworkType,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkV6 {
    pub ip_address: String,
    /// The prefix length, an int in godo.
    pub netmask: u8,
    pub gateway: String,
    #[serde(rename = "type")]
    pub kind: NetworkType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageType {
    Base,
    Snapshot,
    Backup,
    Custom,
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    pub id: u64,
    pub name: String,
    pub distribution: String,
    /// Snapshots have none; sent as null rather than left out, as DO does.
    pub slug: Option<String>,
    pub public: bool,
    pub regions: Vec<String>,
    pub created_at: String,
    #[serde(rename = "type")]
    pub kind: ImageType,
    pub min_disk_size: u64,
    pub size_gigabytes: f64,
    pub description: String,
    pub tags: Vec<String>,
    pub status: String,
    pub error_message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Size {
    pub slug: String,
    pub memory: u64,
    pub vcpus: u64,
    pub disk: u64,
    pub transfer: f64,
    pub price_monthly: f64,
    pub price_hourly: f64,
    pub regions: Vec<String>,
    pub available: bool,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
    pub slug: String,
    pub features: Vec<String>,
    pub available: bool,
    pub sizes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    InProgress,
    Completed,
    Errored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Droplet,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    pub id: u64,
    pub status: ActionStatus,
    /// Text, so that a new action type is a handler change, not a model one.
    #[serde(rename = "type")]
    pub kind: String,
    pub started_at: String,
    /// Always sent, null while running: Terraform decides completion by
    /// `completed_at != nil`, not by `status`.
    pub completed_at: Option<String>,
    pub resource_id: u64,
    pub resource_type: ResourceType,
    /// godo declares `*Region`: an object or nothing, never a bare slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    pub region_slug: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub droplet_limit: u64,
    pub floating_ip_limit: u64,
    pub reserved_ip_limit: u64,
    pub volume_limit: u64,
    pub email: String,
    pub name: String,
    pub uuid: String,
    pub email_verified: bool,
    pub status: String,
    pub status_message: String,
    pub team: Team,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Team {
    pub uuid: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    pub resources: TagResources,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagResources {
    pub count: u64,
    /// Left out while nothing is tagged, as DigitalOcean does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tagged_uri: Option<String>,
    pub droplets: TagResourceCount,
    pub images: TagResourceCount,
    pub volumes: TagResourceCount,
    pub volume_snapshots: TagResourceCount,
    pub databases: TagResourceCount,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagResourceCount {
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tagged_uri: Option<String>,
}

/// `id` and `message` are always set: python-digitalocean raises an
/// IndexError on a non-404 error body that lacks either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub id: String,
    pub message: String,
    pub request_id: String,
}

/// DigitalOcean's wording for a 422 on a busy droplet; Terraform matches it.
pub const PENDING_EVENT: &str = "Droplet already has a pending event.";

impl ErrorBody {
    pub fn new(id: &str, message: impl Into<String>, request_id: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            message: message.into(),
            request_id: request_id.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pages {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Links {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Pages>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<ActionLink>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLink {
    pub id: u64,
    pub rel: String,
    pub href: String,
}

impl ActionLink {
    /// `root` is the absolute server root (`http://host:port`): the API sits
    /// at the root because godo follows only the path of `href`.
    pub fn for_action(action: &Action, root: &str) -> Self {
        let root = root.trim_end_matches('/');
        Self {
            id: action.id,
            rel: action.kind.clone(),
            href: format!("{root}/v2/actions/{}", action.id),
        }
    }
}

/// The key an object travels under on its own (`{"droplet": …}`).
pub trait Named {
    const ONE: &'static str;
}

/// The key a list travels under (`{"droplets": […]}`); python-digitalocean
/// raises KeyError when it is missing, even for an empty list.
pub trait Listed {
    const MANY: &'static str;
}

impl Named for Droplet {
    const ONE: &'static str = "droplet";
}
impl Listed for Droplet {
    const MANY: &'static str = "droplets";
}
impl Named for Action {
    const ONE: &'static str = "action";
}
impl Listed for Action {
    const MANY: &'static str = "actions";
}
impl Named for Image {
    const ONE: &'static str = "image";
}
impl Listed for Image {
    const MANY: &'static str = "images";
}
impl Listed for Size {
    const MANY: &'static str = "sizes";
}
impl Listed for Region {
    const MANY: &'static str = "regions";
}
impl Named for Tag {
    const ONE: &'static str = "tag";
}
impl Listed for Tag {
    const MANY: &'static str = "tags";
}
impl Named for Account {
    const ONE: &'static str = "account";
}

/// A response body: an object or a list under its kind's key, plus `links`
/// and `meta` where the response calls for them. The key comes from the
/// type, so droplets cannot go out under `"actions"`.
#[derive(Debug, Clone)]
pub struct Envelope<B> {
    key: &'static str,
    body: B,
    links: Option<Links>,
    meta: Option<Meta>,
}

impl<B> Envelope<B> {
    fn new(key: &'static str, body: B, links: Option<Links>, meta: Option<Meta>) -> Self {
        Self {
            key,
            body,
            links,
            meta,
        }
    }
}

impl<T: Named> Envelope<T> {
    /// `{"droplet": {…}}`.
    pub fn one(value: T) -> Self {
        Self::new(T::ONE, value, None, None)
    }

    /// `{"droplet": {…}, "links": {"actions": […]}}`: python-digitalocean
    /// and doctl `--wait` find the create action only through these links.
    pub fn created(value: T, actions: Vec<ActionLink>) -> Self {
        let links = Links {
            pages: None,
            actions: Some(actions),
        };
        Self::new(T::ONE, value, Some(links), None)
    }
}

impl<T: Listed> Envelope<Vec<T>> {
    /// `{"droplets": […], "links": {"pages": {…}}, "meta": {"total": N}}`.
    pub fn page(items: Vec<T>, pages: Pages, total: u64) -> Self {
        let links = Links {
            pages: Some(pages),
            actions: None,
        };
        Self::new(T::MANY, items, Some(links), Some(Meta { total }))
    }

    /// `{"actions": […]}`, as the bulk action POST by tag answers.
    pub fn many(items: Vec<T>) -> Self {
        Self::new(T::MANY, items, None, None)
    }

    /// `{"droplets": […], "links": {"actions": […]}}`, an action per droplet.
    pub fn created_many(items: Vec<T>, actions: Vec<ActionLink>) -> Self {
        let links = Links {
            pages: None,
            actions: Some(actions),
        };
        Self::new(T::MANY, items, Some(links), None)
    }
}

// By hand because the key varies per kind and serde's derive needs it fixed.
impl<B: Serialize> Serialize for Envelope<B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 1 + usize::from(self.links.is_some()) + usize::from(self.meta.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry(self.key, &self.body)?;
        if let Some(links) = &self.links {
            map.serialize_entry("links", links)?;
        }
        if let Some(meta) = &self.meta {
            map.serialize_entry("meta", meta)?;
        }
        map.end()
    }
}

/// Links for one page of a list. `base` is the collection's absolute URL
/// without a query (`http://127.0.0.1:8080/v2/droplets`); `filters` are the
/// request's other query parameters, kept so that following `next` lists the
/// same selection. Every link carries `page=` because doctl reads the page
/// count from `last` and python-digitalocean splits `next` on `?`.
pub fn pages(
    base: &str,
    filters: &[(String, String)],
    page: u64,
    per_page: u64,
    total: u64,
) -> Pages {
    let per_page = per_page.max(1);
    let page = page.max(1);
    let last = total.div_ceil(per_page).max(1);
    let url = |n: u64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        // Replaced, not repeated: clients read the first `page=`.
        query.extend_pairs(
            filters
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "page" | "per_page")),
        );
        query
            .append_pair("page", &n.to_string())
            .append_pair("per_page", &per_page.to_string());
        format!("{base}?{}", query.finish())
    };
    let before = page > 1;
    let after = page < last;
    Pages {
        first: before.then(|| url(1)),
        // A page past the end points back at the real last page.
        prev: before.then(|| url((page - 1).min(last))),
        next: after.then(|| url(page + 1)),
        last: after.then(|| url(last)),
    }
}

/// An image named by slug (`"ubuntu-22-04-x64"`) or by integer id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ImageRef {
    Id(u64),
    Slug(String),
}

/// godo sends an SSH key as its integer id or as its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SshKeyRef {
    Id(u64),
    Fingerprint(String),
}

/// `POST /v2/droplets`. Every field may be missing or an explicit null (godo
/// sends `"tags": null`, python-digitalocean `"vpc_uuid": null`): which
/// combinations make sense is the handler's call, so that a bad one gets a
/// 422 naming the problem rather than a parse error. Unknown fields
/// (Terraform's `with_droplet_agent`, `backup_policy`, …) are ignored, and so
/// is `volumes`, which godo sends as objects but the spec as strings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateDroplet {
    pub name: Option<String>,
    pub names: Option<Vec<String>>,
    pub region: Option<String>,
    pub size: Option<String>,
    pub image: Option<ImageRef>,
    pub ssh_keys: Option<Vec<SshKeyRef>>,
    #[serde(deserialize_with = "loose_bool")]
    pub backups: Option<bool>,
    #[serde(deserialize_with = "loose_bool")]
    pub ipv6: Option<bool>,
    #[serde(deserialize_with = "loose_bool")]
    pub monitoring: Option<bool>,
    #[serde(deserialize_with = "loose_bool")]
    pub private_networking: Option<bool>,
    pub user_data: Option<String>,
    pub vpc_uuid: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `POST /v2/droplets/{id}/actions`.
#[derive(Debug, Deserialize)]
pub struct ActionRequest {
    /// Text, so that an unknown type gets a 422 naming it.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub size: Option<String>,
    /// python-digitalocean sends `"disk": "true"`, a string.
    #[serde(default, deserialize_with = "loose_bool")]
    pub disk: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v2/tags`.
#[derive(Debug, Deserialize)]
pub struct CreateTag {
    pub name: String,
}

/// `POST|DELETE /v2/tags/{name}/resources`.
#[derive(Debug, Deserialize)]
pub struct TagResourcesRequest {
    pub resources: Vec<ResourceRef>,
}

#[derive(Debug, Deserialize)]
pub struct ResourceRef {
    /// Clients send a string; an integer is accepted as well because droplet
    /// ids are integers everywhere else.
    #[serde(deserialize_with = "id_as_string")]
    pub resource_id: String,
    pub resource_type: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LooseBool {
    Bool(bool),
    Text(String),
}

fn loose_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Option::<LooseBool>::deserialize(deserializer)? {
        None => Ok(None),
        Some(LooseBool::Bool(b)) => Ok(Some(b)),
        Some(LooseBool::Text(text)) => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(de::Error::invalid_value(
                de::Unexpected::Str(&text),
                &"true or false",
            )),
        },
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrInt {
    Text(String),
    Int(u64),
}

fn id_as_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match TextOrInt::deserialize(deserializer)? {
        TextOrInt::Text(text) => text,
        TextOrInt::Int(id) => id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    // Expected shapes as `key:json-type`, in the doc's order.
    const DROPLET: &str = "id:int name:string memory:int vcpus:int disk:int locked:bool \
        status:string created_at:string kernel:null features:array backup_ids:array \
        next_backup_window:null snapshot_ids:array volume_ids:array tags:array \
        vpc_uuid:string image:object size:object size_slug:string networks:object \
        region:object";
    const IMAGE: &str = "id:int name:string distribution:string slug:string public:bool \
        regions:array created_at:string type:string min_disk_size:int size_gigabytes:float \
        description:string tags:array status:string error_message:string";
    const SIZE: &str = "slug:string memory:int vcpus:int disk:int transfer:float \
        price_monthly:float price_hourly:float regions:array available:bool description:string";
    const REGION: &str = "name:string slug:string features:array available:bool sizes:array";
    const ACTION: &str = "id:int status:string type:string started_at:string completed_at:null \
        resource_id:int resource_type:string region:object region_slug:string";
    const BASE: &str = "http://127.0.0.1:8080/v2/droplets";

    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    fn kinds(v: &Value) -> Vec<&'static str> {
        v.as_array().expect("an array").iter().map(kind).collect()
    }

    /// Exactly these keys, each with this JSON type.
    fn assert_shape(v: &Value, want: &str) {
        let mut got: Vec<String> = v
            .as_object()
            .expect("an object")
            .iter()
            .map(|(k, x)| format!("{k}:{}", kind(x)))
            .collect();
        let mut want: Vec<&str> = want.split_whitespace().collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    fn to_value(value: impl Serialize) -> Value {
        serde_json::to_value(value).expect("a model serializes")
    }

    fn region() -> Region {
        Region {
            name: "New York 3".into(),
            slug: "nyc3".into(),
            features: vec!["backups".into(), "ipv6".into()],
            available: true,
            sizes: vec!["s-1vcpu-1gb".into()],
        }
    }

    fn size() -> Size {
        Size {
            slug: "s-1vcpu-1gb".into(),
            memory: 1024,
            vcpus: 1,
            disk: 25,
            transfer: 1.0,
            price_monthly: 6.0,
            price_hourly: 0.00893,
            regions: vec!["nyc3".into()],
            available: true,
            description: "Basic".into(),
        }
    }

    fn image() -> Image {
        Image {
            id: 63_663_980,
            name: "22.04 (LTS) x64".into(),
            distribution: "Ubuntu".into(),
            slug: Some("ubuntu-22-04-x64".into()),
            public: true,
            regions: vec!["nyc3".into()],
            created_at: "2026-01-01T00:00:00Z".into(),
            kind: ImageType::Base,
            min_disk_size: 7,
            size_gigabytes: 2.36,
            description: String::new(),
            tags: vec![],
            status: "available".into(),
            error_message: String::new(),
        }
    }

    fn droplet() -> Droplet {
        Droplet {
            id: 3_164_444,
            name: "web-1".into(),
            memory: 1024,
            vcpus: 1,
            disk: 25,
            locked: false,
            status: DropletStatus::Active,
            created_at: "2026-11-29T15:00:00Z".into(),
            kernel: Null,
            features: vec!["private_networking".into()],
            backup_ids: vec![7],
            next_backup_window: Null,
            snapshot_ids: vec![8],
            volume_ids: vec!["506f78a4-e098-11e5-ad9f-000f53306ae1".into()],
            tags: vec!["web".into()],
            vpc_uuid: "760e09ef-dc84-11e8-981e-3cfdfeaae000".into(),
            image: image(),
            size: size(),
            size_slug: "s-1vcpu-1gb".into(),
            networks: Networks {
                v4: vec![NetworkV4 {
                    ip_address: "203.0.113.10".into(),
                    netmask: "255.255.255.0".into(),
                    gateway: "203.0.113.1".into(),
                    kind: NetworkType::Public,
                }],
                v6: vec![NetworkV6 {
                    ip_address: "2604:a880::10".into(),
                    netmask: 64,
                    gateway: "2604:a880::1".into(),
                    kind: NetworkType::Public,
                }],
            },
            region: region(),
        }
    }

    fn action() -> Action {
        Action {
            id: 36_804_636,
            status: ActionStatus::InProgress,
            kind: "create".into(),
            started_at: "2026-11-29T15:00:00Z".into(),
            completed_at: None,
            resource_id: 3_164_444,
            resource_type: ResourceType::Droplet,
            region: Some(region()),
            region_slug: "nyc3".into(),
        }
    }

    #[test]
    fn a_droplet_has_exactly_the_fields_clients_read() {
        let v = to_value(droplet());
        assert_shape(&v, DROPLET);
        assert_eq!(v["status"], "active");
        assert_eq!(kinds(&v["backup_ids"]), ["int"]);
        assert_eq!(kinds(&v["snapshot_ids"]), ["int"]);
        assert_eq!(kinds(&v["volume_ids"]), ["string"]);
        assert_shape(&v["image"], IMAGE);
        assert_shape(&v["size"], SIZE);
        assert_shape(&v["region"], REGION);
    }

    #[test]
    fn v4_netmasks_are_strings_and_v6_netmasks_are_integers() {
        let v = to_value(droplet());
        let networks = &v["networks"];
        assert_shape(networks, "v4:array v6:array");
        let v4 = "ip_address:string netmask:string gateway:string type:string";
        let v6 = v4.replace("netmask:string", "netmask:int");
        assert_shape(&networks["v4"][0], v4);
        assert_shape(&networks["v6"][0], &v6);
        assert_eq!(networks["v4"][0]["type"], "public");
    }

    #[test]
    fn a_new_droplet_still_has_both_network_lists() {
        let new = Droplet {
            status: DropletStatus::New,
            networks: Networks::default(),
            ..droplet()
        };
        let v = to_value(new);
        assert_eq!(v["status"], "new");
        assert_eq!(v["networks"], json!({"v4": [], "v6": []}));
    }

    #[test]
    fn a_snapshot_image_has_a_null_slug_and_its_kind_under_type() {
        let v = to_value(Image {
            slug: None,
            kind: ImageType::Snapshot,
            ..image()
        });
        assert_shape(&v, &IMAGE.replace("slug:string", "slug:null"));
        assert_eq!(v["type"], "snapshot");
    }

    #[test]
    fn sizes_have_float_prices_and_regions_list_their_sizes() {
        let s = to_value(size());
        assert_shape(&s, SIZE);
        assert_eq!(s["price_hourly"], 0.00893);
        let r = to_value(region());
        assert_shape(&r, REGION);
        assert_eq!(kinds(&r["sizes"]), ["string"]);
    }

    #[test]
    fn an_action_sends_completed_at_as_null_until_it_completes() {
        let running = to_value(action());
        assert_shape(&running, ACTION);
        assert_eq!(running["status"], "in-progress");
        assert_eq!(running["resource_type"], "droplet");
        assert_shape(&running["region"], REGION);

        let done = to_value(Action {
            status: ActionStatus::Completed,
            completed_at: Some("2026-11-29T15:00:02Z".into()),
            ..action()
        });
        assert_eq!(done["status"], "completed");
        assert_eq!(done["completed_at"], "2026-11-29T15:00:02Z");
        assert_eq!(to_value(ActionStatus::Errored), "errored");
    }

    #[test]
    fn an_action_without_a_region_leaves_the_key_out() {
        let v = to_value(Action {
            region: None,
            ..action()
        });
        assert!(v.get("region").is_none());
        assert_eq!(v["region_slug"], "nyc3");
    }

    #[test]
    fn an_account_has_its_limits_and_a_team() {
        let account = Account {
            droplet_limit: 25,
            floating_ip_limit: 5,
            reserved_ip_limit: 5,
            volume_limit: 100,
            email: "sim@example.com".into(),
            name: "Sim".into(),
            uuid: "b6fr89dbf6d9156cace5f3c78dc9851d957381ef".into(),
            email_verified: true,
            status: "active".into(),
            status_message: String::new(),
            team: Team {
                uuid: "5df3e3004a17e242b7c20ca6c9fc25b701a47ece".into(),
                name: "Sim".into(),
            },
        };
        let v = to_value(Envelope::one(account));
        assert_shape(&v, "account:object");
        let fields = "droplet_limit:int floating_ip_limit:int reserved_ip_limit:int \
            volume_limit:int email:string name:string uuid:string email_verified:bool \
            status:string status_message:string team:object";
        assert_shape(&v["account"], fields);
        assert_shape(&v["account"]["team"], "uuid:string name:string");
    }

    #[test]
    fn a_tag_counts_each_kind_and_gives_a_uri_only_for_tagged_kinds() {
        let uri = "http://127.0.0.1:8080/v2/droplets/3164444".to_owned();
        let droplets = TagResourceCount {
            count: 1,
            last_tagged_uri: Some(uri.clone()),
        };
        let resources = TagResources {
            count: 1,
            last_tagged_uri: Some(uri),
            droplets,
            ..TagResources::default()
        };
        let name = "web".to_owned();
        let v = to_value(Envelope::one(Tag { name, resources }));
        assert_shape(&v["tag"], "name:string resources:object");
        let r = &v["tag"]["resources"];
        let fields = "count:int last_tagged_uri:string droplets:object images:object \
            volumes:object volume_snapshots:object databases:object";
        assert_shape(r, fields);
        assert_shape(&r["droplets"], "count:int last_tagged_uri:string");
        assert_eq!(r["images"], json!({"count": 0}));
    }

    #[test]
    fn error_bodies_carry_the_do_id_message_and_request_id() {
        let message = "The resource you requested could not be found.";
        let v = to_value(ErrorBody::new("not_found", message, "r-1"));
        assert_shape(&v, "id:string message:string request_id:string");
        assert_eq!(v["id"], "not_found");
        assert_eq!(v["message"], message);
        assert_eq!(v["request_id"], "r-1");
    }

    #[test]
    fn a_single_page_list_has_empty_pages_and_the_total() {
        let one = pages(BASE, &[], 1, 20, 1);
        let v = to_value(Envelope::page(vec![droplet()], one, 1));
        assert_shape(&v, "droplets:array links:object meta:object");
        assert_eq!(v["links"], json!({"pages": {}}));
        assert_eq!(v["meta"], json!({"total": 1}));
        assert_eq!(v["droplets"][0]["id"], 3_164_444);
    }

    #[test]
    fn an_empty_list_still_has_its_key_and_one_page() {
        let none = pages(BASE, &[], 1, 20, 0);
        let v = to_value(Envelope::<Vec<Action>>::page(vec![], none, 0));
        let want = json!({"actions": [], "links": {"pages": {}}, "meta": {"total": 0}});
        assert_eq!(v, want);
    }

    #[test]
    fn the_first_page_links_forward_with_absolute_urls_that_keep_filters() {
        let filters = [("tag_name".to_owned(), "web".to_owned())];
        let p = pages(BASE, &filters, 1, 1, 3);
        assert_eq!((p.first, p.prev), (None, None));
        let next = "http://127.0.0.1:8080/v2/droplets?tag_name=web&page=2&per_page=1";
        assert_eq!(p.next.as_deref(), Some(next));
        let last = "http://127.0.0.1:8080/v2/droplets?tag_name=web&page=3&per_page=1";
        assert_eq!(p.last.as_deref(), Some(last));
    }

    #[test]
    fn later_pages_link_back_and_only_pages_before_the_last_link_forward() {
        let url = |n: u64| Some(format!("{BASE}?page={n}&per_page=2"));
        let middle = Pages {
            first: url(1),
            prev: url(1),
            next: url(3),
            last: url(3),
        };
        assert_eq!(pages(BASE, &[], 2, 2, 5), middle);
        let end = Pages {
            first: url(1),
            prev: url(2),
            next: None,
            last: None,
        };
        assert_eq!(pages(BASE, &[], 3, 2, 5), end);
        assert_eq!(pages(BASE, &[], 9, 2, 5).prev, url(3));
    }

    #[test]
    fn filters_are_percent_encoded_and_a_stale_page_parameter_is_replaced() {
        let filters = [
            ("name".to_owned(), "web 1&x=y".to_owned()),
            ("page".to_owned(), "7".to_owned()),
        ];
        let next = pages(BASE, &filters, 1, 1, 2).next;
        let want = "http://127.0.0.1:8080/v2/droplets?name=web+1%26x%3Dy&page=2&per_page=1";
        assert_eq!(next.as_deref(), Some(want));
    }

    #[test]
    fn a_create_response_links_its_actions_by_integer_id() {
        let link = ActionLink::for_action(&action(), "http://127.0.0.1:8080/");
        let v = to_value(Envelope::created(droplet(), vec![link.clone()]));
        assert_shape(&v, "droplet:object links:object");
        assert_shape(&v["links"], "actions:array");
        let href = "http://127.0.0.1:8080/v2/actions/36804636";
        let want = json!({"id": 36_804_636, "rel": "create", "href": href});
        assert_eq!(v["links"]["actions"][0], want);

        let many = Envelope::created_many(vec![droplet(), droplet()], vec![link.clone(), link]);
        let many = to_value(many);
        assert_shape(&many, "droplets:array links:object");
        assert_eq!(kinds(&many["links"]["actions"]), ["object", "object"]);
    }

    #[test]
    fn a_single_object_travels_alone_under_its_kind() {
        assert_shape(&to_value(Envelope::one(action())), "action:object");
        let bulk = to_value(Envelope::many(vec![action()]));
        assert_shape(&bulk, "actions:array");
        assert_eq!(bulk["actions"][0]["id"], 36_804_636);
    }

    #[test]
    fn disk_accepts_a_bool_or_the_strings_true_and_false() {
        let cases = [
            (r#"{"type":"resize","disk":true}"#, Some(true)),
            (r#"{"type":"resize","disk":"true"}"#, Some(true)),
            (r#"{"type":"resize","disk":"false"}"#, Some(false)),
            (r#"{"type":"resize","disk":null}"#, None),
            (r#"{"type":"resize"}"#, None),
        ];
        for (body, disk) in cases {
            let r: ActionRequest = serde_json::from_str(body).expect(body);
            assert_eq!((r.kind.as_str(), r.disk), ("resize", disk), "{body}");
        }
        let pdo = r#"{"type":"resize","size":"s-2vcpu-2gb","disk":"true"}"#;
        let pdo: ActionRequest = serde_json::from_str(pdo).expect("a pdo resize");
        assert_eq!(pdo.size.as_deref(), Some("s-2vcpu-2gb"));
        assert_eq!(pdo.disk, Some(true));
        let maybe = r#"{"type":"resize","disk":"yes"}"#;
        assert!(serde_json::from_str::<ActionRequest>(maybe).is_err());
        let rename = r#"{"type":"rename","name":"web-2"}"#;
        let rename: ActionRequest = serde_json::from_str(rename).expect("a rename");
        assert_eq!(rename.name.as_deref(), Some("web-2"));
    }

    #[test]
    fn a_create_body_accepts_explicit_nulls_and_ignores_unknown_fields() {
        let body = r#"{"name":"web-1","region":"nyc3","size":"s-1vcpu-1gb",
            "image":"ubuntu-22-04-x64","ssh_keys":null,"tags":null,"vpc_uuid":null,
            "user_data":null,"backups":false,"ipv6":"true","volumes":[{"id":"v-1"}],
            "with_droplet_agent":true,"backup_policy":{"plan":"daily"}}"#;
        let create: CreateDroplet = serde_json::from_str(body).expect("a godo/terraform body");
        assert_eq!(create.name.as_deref(), Some("web-1"));
        let slug = ImageRef::Slug("ubuntu-22-04-x64".into());
        assert_eq!(create.image, Some(slug));
        assert!(create.tags.is_none());
        assert!(create.ssh_keys.is_none());
        assert!(create.vpc_uuid.is_none());
        let flags = (create.backups, create.ipv6, create.monitoring);
        assert_eq!(flags, (Some(false), Some(true), None));
    }

    #[test]
    fn the_image_may_be_an_integer_id_and_names_may_replace_name() {
        let body = r#"{"names":["a","b"],"region":"nyc3","size":"s-1vcpu-1gb",
            "image":63663980,"tags":["web"],
            "ssh_keys":[289794,"3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45"]}"#;
        let create: CreateDroplet = serde_json::from_str(body).expect("a multi-create body");
        assert_eq!(create.names, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert!(create.name.is_none());
        assert_eq!(create.image, Some(ImageRef::Id(63_663_980)));
        let keys = create.ssh_keys.expect("keys were sent");
        assert_eq!(keys[0], SshKeyRef::Id(289_794));
        assert!(matches!(&keys[1], SshKeyRef::Fingerprint(f) if f.starts_with("3b:16")));
    }

    #[test]
    fn tag_resource_ids_may_be_strings_or_integers() {
        let tag: CreateTag = serde_json::from_str(r#"{"name":"web"}"#).expect("a tag");
        assert_eq!(tag.name, "web");
        let body = r#"{"resources":[{"resource_id":"3164444","resource_type":"droplet"},
            {"resource_id":3164445,"resource_type":"droplet"}]}"#;
        let request: TagResourcesRequest = serde_json::from_str(body).expect("tag resources");
        let ids: Vec<&str> = request
            .resources
            .iter()
            .map(|r| r.resource_id.as_str())
            .collect();
        assert_eq!(ids, ["3164444", "3164445"]);
        assert_eq!(request.resources[1].resource_type, "droplet");
    }
}
