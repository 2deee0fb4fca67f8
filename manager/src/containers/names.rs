//! Container names: validation and docker-style random names.

use super::Error;

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nifty", "proud", "quiet", "rapid", "sharp", "tender", "vivid", "witty", "zealous", "bold",
];
const NOUNS: &[&str] = &[
    "anchor", "beacon", "cabin", "dock", "ferry", "galley", "harbor", "island", "jetty", "keel",
    "lagoon", "marina", "narwhal", "oar", "pier", "quay", "reef", "sail", "tide", "wharf",
];

/// docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 255 characters.
pub fn validate(name: &str) -> Result<(), Error> {
    crate::restricted_name::check(name).map_err(|problem| Error::InvalidName {
        name: name.to_string(),
        problem,
    })
}

/// `adjective_noun`, with a number appended after the first tries collide.
pub fn random(attempt: u32) -> String {
    let a = ADJECTIVES[rand::random::<usize>() % ADJECTIVES.len()];
    let n = NOUNS[rand::random::<usize>() % NOUNS.len()];
    if attempt < 3 {
        format!("{a}_{n}")
    } else {
        format!("{a}_{n}{}", rand::random::<u16>() % 1000)
    }
}

/// A new 64-hex container ID.
pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate("web-1.a_b").is_ok());
        assert!(validate("x").is_ok());
        for bad in ["", "/x", "-x", "a b", "a/b", "../x"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate(&random(0)).is_ok());
        assert!(validate(&random(9)).is_ok());
        assert_eq!(new_id().len(), 64);
    }
}
