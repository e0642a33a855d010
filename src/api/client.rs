//! Who sent a request and where it was addressed. `X-Forwarded-For`,
//! `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded` are believed
//! only when the connection comes from an address in TRUSTED_PROXIES;
//! otherwise the client is the peer address and links are built from the
//! request's own Host and scheme. Hosts and schemes from headers are
//! checked (`http`/`https`, a plain host[:port]) so a link can never be
//! made to say `javascript:` or carry markup.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header;
use actix_web::HttpRequest;
use ipnet::IpNet;

/// The address the throttles count: the peer, or, behind a trusted proxy,
/// the nearest address the proxies did not add themselves.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|addr| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !is_trusted(peer, trusted) {
        return peer;
    }
    // Right to left: each trusted proxy appended the address it saw. An
    // entry that is no address stops the walk at the hop that reported
    // it, so garbage never becomes a client of its own.
    let mut nearest = peer;
    for entry in forwarded_for(req).iter().rev() {
        let Some(address) = *entry else {
            break;
        };
        nearest = address;
        if !is_trusted(address, trusted) {
            break;
        }
    }
    nearest
}

/// `scheme://host` of the URL the client asked for, for absolute links.
pub fn origin(req: &HttpRequest, trusted: &[IpNet]) -> String {
    let believed = req
        .peer_addr()
        .is_some_and(|addr| is_trusted(addr.ip(), trusted));
    let own_scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let scheme = believed
        .then(|| first_value(req, "x-forwarded-proto"))
        .flatten()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| own_scheme.to_owned());
    let host = believed
        .then(|| first_value(req, "x-forwarded-host"))
        .flatten()
        .filter(|h| is_plain_host(h))
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|h| is_plain_host(h))
        })
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("{scheme}://{host}")
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&ip))
}

/// The `X-Forwarded-For` chain, in order (`None` for an entry that is no
/// address), or the `Forwarded: for=` chain when there is no
/// `X-Forwarded-For`: the proxies in common use append to the former and
/// pass a client's own `Forwarded` through, so it must not win over it.
fn forwarded_for(req: &HttpRequest) -> Vec<Option<IpAddr>> {
    let values = |name: header::HeaderName| -> Vec<String> {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let x_forwarded_for = values(header::HeaderName::from_static("x-forwarded-for"));
    if !x_forwarded_for.is_empty() {
        return x_forwarded_for
            .iter()
            .map(|value| parse_node(value))
            .collect();
    }
    values(header::FORWARDED)
        .iter()
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| key.eq_ignore_ascii_case("for"))
        .map(|(_, value)| parse_node(value))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:80"`, `2001:db8::1`.
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Ok(ip) = value.parse() {
        return Some(ip);
    }
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    value.rsplit_once(':')?.0.parse().ok()
}

fn first_value(req: &HttpRequest, name: &'static str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
}

/// A host name or address with an optional port, nothing else.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
        let req = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "1.2.3.4"))
            .insert_header(("X-Forwarded-Host", "evil.example"))
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("Host", "api.example.com"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &[]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(origin(&req, &[]), "http://api.example.com");
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_address_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.0.0.5"))
            .insert_header(("X-Forwarded-Host", "api.example.com"))
            .insert_header(("X-Forwarded-Proto", "https"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(origin(&req, &trusted), "https://api.example.com");
        let forwarded = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("Forwarded", "for=\"[2001:db8::7]:443\";proto=https"))
            .to_http_request();
        assert_eq!(
            client_ip(&forwarded, &trusted),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_hostile_scheme_or_host_never_reaches_a_link() {
        let trusted = nets(&["127.0.0.1/32"]);
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-Host", "evil.example/<script>"))
            .insert_header(("X-Forwarded-Proto", "javascript"))
            .insert_header(("Host", "api.example.com"))
            .to_http_request();
        assert_eq!(origin(&req, &trusted), "http://api.example.com");
    }
}
