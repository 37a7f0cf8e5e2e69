//! Which route a request takes, and the gRPC call it stands for.

use super::*;

/// The gRPC call a REST request stands for: it decides the role and the
/// budget (`roles::TABLE`).
pub(super) type Twin = (&'static str, &'static str);

pub(super) const WHO_AM_I: Twin = ("clustergenie.gateway.v1.TokenService", "WhoAmI");

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Account,
    Sizes,
    Regions,
    Images,
    Image(String),
    ListDroplets,
    CreateDroplets,
    DestroyByTag,
    GetDroplet(i64),
    DestroyDroplet(i64),
    ListDropletActions(i64),
    PostDropletAction(i64),
    GetDropletAction(i64, i64),
    PostActionsByTag,
    ListActions,
    GetAction(i64),
    ListTags,
    CreateTag,
    GetTag(String),
    DeleteTag(String),
    TagResources(String),
    UntagResources(String),
    /// Unknown path, or an id that cannot exist (404).
    Missing,
}

/// A path id: DigitalOcean's are positive integers.
pub(super) fn number(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|n| *n >= 1)
}

impl Route {
    /// `segments` after `v2`; trailing slashes are already gone.
    pub(super) fn parse(method: &Method, segments: &[&str]) -> Self {
        use Route as R;
        let (get, post, delete) = (
            method == Method::GET || method == Method::HEAD,
            method == Method::POST,
            method == Method::DELETE,
        );
        let by_number = |raw: &str, f: fn(i64) -> Route| number(raw).map_or(R::Missing, f);
        match segments {
            ["account"] if get => R::Account,
            ["sizes"] if get => R::Sizes,
            ["regions"] if get => R::Regions,
            ["images"] if get => R::Images,
            ["images", id] if get => R::Image((*id).to_string()),
            ["droplets"] if get => R::ListDroplets,
            ["droplets"] if post => R::CreateDroplets,
            ["droplets"] if delete => R::DestroyByTag,
            ["droplets", "actions"] if post => R::PostActionsByTag,
            ["droplets", id] if get => by_number(id, R::GetDroplet),
            ["droplets", id] if delete => by_number(id, R::DestroyDroplet),
            ["droplets", id, "actions"] if get => by_number(id, R::ListDropletActions),
            ["droplets", id, "actions"] if post => by_number(id, R::PostDropletAction),
            ["droplets", id, "actions", action] if get => match (number(id), number(action)) {
                (Some(d), Some(a)) => R::GetDropletAction(d, a),
                _ => R::Missing,
            },
            ["actions"] if get => R::ListActions,
            ["tags"] if get => R::ListTags,
            ["tags"] if post => R::CreateTag,
            ["tags", name] if get => R::GetTag((*name).to_string()),
            ["tags", name] if delete => R::DeleteTag((*name).to_string()),
            ["tags", name, "resources"] if post => R::TagResources((*name).to_string()),
            ["tags", name, "resources"] if delete => R::UntagResources((*name).to_string()),
            ["actions", id] if get => by_number(id, R::GetAction),
            _ => R::Missing,
        }
    }

    pub(super) fn twin(&self) -> Twin {
        use Route as R;
        let droplets = "clustergenie.provisioning.v1.DropletService";
        let actions = "clustergenie.provisioning.v1.DropletActionService";
        let catalog = "clustergenie.provisioning.v1.CatalogService";
        let tags = "clustergenie.provisioning.v1.TagService";
        match self {
            R::Account | R::Missing => WHO_AM_I,
            R::Sizes => (catalog, "ListSizes"),
            R::Regions => (catalog, "ListRegions"),
            R::Images | R::Image(_) => (catalog, "ListImages"),
            R::ListDroplets => (droplets, "ListDroplets"),
            R::CreateDroplets => (droplets, "CreateDroplet"),
            R::DestroyByTag | R::DestroyDroplet(_) => (droplets, "DestroyDroplet"),
            R::GetDroplet(_) => (droplets, "GetDroplet"),
            R::ListDropletActions(_) | R::ListActions => (actions, "ListDropletActions"),
            R::PostDropletAction(_) | R::PostActionsByTag => (actions, "CreateDropletAction"),
            R::GetDropletAction(..) | R::GetAction(_) => (actions, "GetDropletAction"),
            R::ListTags => (tags, "ListTags"),
            R::CreateTag => (tags, "CreateTag"),
            R::GetTag(_) => (tags, "GetTag"),
            R::DeleteTag(_) => (tags, "DeleteTag"),
            R::TagResources(_) => (tags, "TagDroplets"),
            R::UntagResources(_) => (tags, "UntagDroplets"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, path: &str) -> Route {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        Route::parse(&method, &segments[1..])
    }

    #[test]
    fn routes_match_with_or_without_a_trailing_slash() {
        assert_eq!(parse(Method::GET, "/v2/droplets/"), Route::ListDroplets);
        assert_eq!(parse(Method::GET, "/v2/droplets"), Route::ListDroplets);
        assert_eq!(
            parse(Method::POST, "/v2/droplets/7/actions/"),
            Route::PostDropletAction(7)
        );
        assert_eq!(parse(Method::GET, "/v2/account/"), Route::Account);
    }

    #[test]
    fn ids_that_cannot_exist_are_missing() {
        for path in [
            "/v2/droplets/abc",
            "/v2/droplets/0",
            "/v2/droplets/-3",
            "/v2/actions/1.5",
        ] {
            assert_eq!(parse(Method::GET, path), Route::Missing, "{path}");
        }
        assert_eq!(parse(Method::PUT, "/v2/droplets"), Route::Missing);
        assert_eq!(parse(Method::GET, "/v2/nope"), Route::Missing);
    }

    #[test]
    fn every_route_has_a_twin_in_the_role_table() {
        let routes = [
            Route::Account,
            Route::Sizes,
            Route::Regions,
            Route::Images,
            Route::Image("x".into()),
            Route::ListDroplets,
            Route::CreateDroplets,
            Route::DestroyByTag,
            Route::GetDroplet(1),
            Route::DestroyDroplet(1),
            Route::ListDropletActions(1),
            Route::PostDropletAction(1),
            Route::GetDropletAction(1, 2),
            Route::PostActionsByTag,
            Route::ListActions,
            Route::GetAction(1),
            Route::ListTags,
            Route::CreateTag,
            Route::GetTag("t".into()),
            Route::DeleteTag("t".into()),
            Route::TagResources("t".into()),
            Route::UntagResources("t".into()),
            Route::Missing,
        ];
        for r in routes {
            let (service, method) = r.twin();
            assert_ne!(
                crate::roles::rule(service, method).access,
                crate::roles::Access::Denied,
                "{r:?}"
            );
        }
    }

    #[test]
    fn writes_cost_what_their_grpc_twins_cost() {
        use crate::roles::{Access, rule};
        let (s, m) = Route::CreateDroplets.twin();
        let create = rule(s, m);
        let (s, m) = Route::ListDroplets.twin();
        let list = rule(s, m);
        assert_eq!(create.tier, crate::limits::Tier::Expensive);
        assert!(
            matches!(create.access, Access::Needs(r) if r > match list.access {
                Access::Needs(r) => r,
                _ => unreachable!(),
            })
        );
    }
}
