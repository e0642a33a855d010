//! Access and refresh tokens: HS256 JWTs whose algorithm is pinned, whose
//! `exp` is required, and which carry the user's `token_version` so that a
//! password change kills every older token. An access token is never
//! accepted where a refresh token is expected, nor the reverse. A refresh
//! token also carries its id (`jti`) and its sign-in's family (`fam`):
//! `services::sessions` keeps those, never the token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id, as a string (RFC 7519).
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub typ: TokenKind,
    /// The user's `token_version` when the token was issued.
    pub ver: i64,
    /// Refresh tokens: the token's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Refresh tokens: the sign-in (family) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok().filter(|id| *id > 0)
    }
}

pub struct JwtKeys {
    /// Signs pagination cursors; derived from the same secret, so cursors
    /// work across replicas that share JWT_SECRET.
    cursor_key: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// Which stored refresh token a pair's refresh token is.
pub struct RefreshId<'a> {
    pub jti: &'a str,
    pub family: &'a str,
}

/// A freshly issued pair.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

impl JwtKeys {
    /// `secret` is JWT_SECRET; `None` makes a random one (tokens then die
    /// with the process, which the start-up warning says).
    pub fn new(secret: Option<&str>, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let secret_bytes = match secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                let mut random = vec![0u8; 64];
                rand::rngs::OsRng.fill_bytes(&mut random);
                random
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.validate_exp = true;
        // A token that says it is not valid yet is not valid yet.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            cursor_key: derive_key(&secret_bytes, b"portrait pagination cursor"),
            encoding: EncodingKey::from_secret(&secret_bytes),
            decoding: DecodingKey::from_secret(&secret_bytes),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// The key pagination cursors are signed with.
    pub fn cursor_key(&self) -> &[u8; 32] {
        &self.cursor_key
    }

    pub fn issue_pair(
        &self,
        user_id: i64,
        token_version: i64,
        refresh: RefreshId<'_>,
    ) -> Result<TokenPair, jsonwebtoken::errors::Error> {
        Ok(TokenPair {
            access_token: self.issue(user_id, token_version, None)?,
            refresh_token: self.issue(user_id, token_version, Some(refresh))?,
            expires_in: self.access_ttl.as_secs(),
        })
    }

    fn issue(
        &self,
        user_id: i64,
        token_version: i64,
        refresh: Option<RefreshId<'_>>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = unix_now();
        let (kind, ttl) = match refresh {
            None => (TokenKind::Access, self.access_ttl),
            Some(_) => (TokenKind::Refresh, self.refresh_ttl),
        };
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + ttl.as_secs(),
            typ: kind,
            ver: token_version,
            jti: refresh.as_ref().map(|id| id.jti.to_owned()),
            fam: refresh.as_ref().map(|id| id.family.to_owned()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a valid, unexpired token of the expected kind.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Option<Claims> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let refresh_ids = claims.jti.is_some() && claims.fam.is_some();
        let well_formed = match expected {
            TokenKind::Access => true,
            // A refresh token from before sessions were kept has no id.
            TokenKind::Refresh => refresh_ids,
        };
        (claims.typ == expected && claims.user_id().is_some() && well_formed).then_some(claims)
    }
}

/// A key for another purpose, derived from the secret (HMAC-SHA256).
fn derive_key(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            Some("a-test-secret-that-is-long-enough-0123"),
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    fn ids() -> RefreshId<'static> {
        RefreshId {
            jti: "0123456789abcdef0123456789abcdef",
            family: "fedcba9876543210fedcba9876543210",
        }
    }

    #[test]
    fn access_and_refresh_are_not_interchangeable() {
        let keys = keys();
        let pair = keys.issue_pair(7, 3, ids()).unwrap();
        let access = keys.verify(&pair.access_token, TokenKind::Access).unwrap();
        assert_eq!((access.user_id(), access.ver), (Some(7), 3));
        assert!(keys
            .verify(&pair.access_token, TokenKind::Refresh)
            .is_none());
        assert!(keys
            .verify(&pair.refresh_token, TokenKind::Access)
            .is_none());
        let refresh = keys
            .verify(&pair.refresh_token, TokenKind::Refresh)
            .unwrap();
        assert_eq!(refresh.jti.as_deref(), Some(ids().jti));
        assert_eq!(refresh.fam.as_deref(), Some(ids().family));
        assert!(access.jti.is_none(), "access tokens are not stored");
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        #[derive(Serialize)]
        struct Early<'a> {
            sub: &'a str,
            exp: u64,
            nbf: u64,
            iat: u64,
            typ: TokenKind,
            ver: i64,
        }
        let now = unix_now();
        let early = |nbf| {
            encode(
                &Header::new(Algorithm::HS256),
                &Early {
                    sub: "7",
                    exp: now + 600,
                    nbf,
                    iat: now,
                    typ: TokenKind::Access,
                    ver: 0,
                },
                &EncodingKey::from_secret(b"a-test-secret-that-is-long-enough-0123"),
            )
            .unwrap()
        };
        assert!(keys()
            .verify(&early(now + 300), TokenKind::Access)
            .is_none());
        assert!(keys().verify(&early(now - 1), TokenKind::Access).is_some());
    }

    #[test]
    fn another_secret_or_algorithm_is_refused() {
        let other = JwtKeys::new(
            Some("another-secret-that-is-long-enough-0123"),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let pair = other.issue_pair(1, 0, ids()).unwrap();
        assert!(keys()
            .verify(&pair.access_token, TokenKind::Access)
            .is_none());
        // alg "none" with the same claims.
        let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjAsInR5cCI6ImFjY2VzcyIsInZlciI6MH0.";
        assert!(keys().verify(unsigned, TokenKind::Access).is_none());
        assert!(keys().verify("garbage", TokenKind::Access).is_none());
    }
}
