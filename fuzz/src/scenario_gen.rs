//! Scenario files for the `scenario` target: a seed parsed as TOML, then
//! values changed (odd values of any type, and changes that keep the type
//! and aim at the limits: a number scaled by powers of ten or put on a
//! documented limit, a duration made huge or tiny, an address turned into
//! its subnet's network or broadcast address, another host's or a special
//! one, a prefix or a port range at its edges), keys dropped, array entries
//! repeated, and keys borrowed from another seed (a field the seed lacks).

use std::net::Ipv4Addr;

use toml::{Table, Value};

use crate::Rng;

/// A structurally mutated scenario: valid TOML whose values are changed.
pub fn scenario_input(rng: &mut Rng, seeds: &[String]) -> String {
    let seed = if seeds.is_empty() {
        "seed = 1\nduration = \"1s\"\n".to_string()
    } else {
        rng.pick(seeds).clone()
    };
    let Ok(mut doc) = seed.parse::<Table>() else {
        return seed;
    };
    let mut addrs = Vec::new();
    collect_addrs(&Value::Table(doc.clone()), &mut addrs);
    let donor = if rng.one_in(4) && !seeds.is_empty() {
        rng.pick(seeds).parse::<Table>().ok()
    } else {
        None
    };
    let ctx = Context { addrs, donor };
    for _ in 0..rng.below(6) + 1 {
        mutate_value(rng, &mut doc, 0, &ctx);
    }
    toml::to_string(&doc).unwrap_or(seed)
}

/// What a mutation may draw on besides the value it changes.
struct Context {
    /// Every address written in the seed (hosts, targets, servers).
    addrs: Vec<Ipv4Addr>,
    /// Another seed, whose keys may be copied in.
    donor: Option<Table>,
}

fn collect_addrs(v: &Value, out: &mut Vec<Ipv4Addr>) {
    match v {
        Value::String(s) => {
            let a = s.split('/').next().unwrap_or(s);
            if let Ok(a) = a.parse() {
                out.push(a);
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| collect_addrs(x, out)),
        Value::Table(t) => t.values().for_each(|x| collect_addrs(x, out)),
        _ => {}
    }
}

/// Odd values a field may be given.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => Value::Integer(*rng.pick(&[0, -1, i64::MAX, i64::MIN, 1 << 32, 65536, 100_000_000])),
        1 => Value::String(
            rng.pick(&[
                "0.0.0.0",
                "255.255.255.255",
                "224.0.0.1",
                "127.0.0.1",
                "10.0.0.0/16",
                "0s",
                "1us",
                "1us..1us",
                "1000000d",
                "1d",
                "1e-300bps",
                "inf",
                "-",
                "",
                "T5",
                "x",
                "1-65535",
                "198.51.100.255",
                "18446744073709551615us",
                "9223372036854775807ms",
                "1e30s",
                "0.0000001s",
                "0s..1000000d",
                "0.0.0.0/0",
                "240.0.0.1",
                "169.254.0.1",
                "0-0",
                "65535-65535",
            ])
            .to_string(),
        ),
        2 => Value::Float(*rng.pick(&[f64::NAN, -1.0, 1e300, 0.5, 1.0, f64::INFINITY, 1e-300])),
        3 => Value::Boolean(rng.one_in(2)),
        4 => Value::Array(vec![Value::String("10.0.0.0/16".into())]),
        5 => Value::Integer(rng.next_u64() as i64),
        _ => Value::String(format!("{}ms", rng.below(100_000))),
    }
}

/// Integers on or next to the loader's documented limits, and the edges of
/// the integer types.
const LIMIT_INTS: &[i64] = &[
    0,
    1,
    2,
    30,
    31,
    32,
    33,
    255,
    256,
    1023,
    1024,
    1025,
    65_535,
    65_536,
    65_537,
    1_000_000,
    1_000_001,
    1 << 20,
    (1 << 20) + 1,
    16 << 20,
    (16 << 20) + 1,
    u32::MAX as i64,
    1 << 53,
    i64::MAX,
];

/// `v` changed but kept of its type, aimed at limits and special cases.
fn tweak(rng: &mut Rng, v: &Value, ctx: &Context) -> Value {
    match v {
        Value::Integer(n) => Value::Integer(match rng.below(4) {
            0 => n.saturating_mul(*rng.pick(&[10, 1000, 1_000_000])),
            1 => n.saturating_add(*rng.pick(&[-1, 1])),
            2 => n.saturating_neg(),
            _ => *rng.pick(LIMIT_INTS),
        }),
        Value::Float(x) => Value::Float(x * *rng.pick(&[1e6, 1e-6, 0.0, -1.0, 1e300])),
        Value::String(s) => Value::String(tweak_text(rng, s, ctx)),
        Value::Array(xs) if !xs.is_empty() => {
            let mut xs = xs.clone();
            let i = rng.below(xs.len());
            xs[i] = tweak(rng, &xs[i], ctx);
            if rng.one_in(3) {
                let c = xs[i].clone();
                xs.push(c);
            }
            Value::Array(xs)
        }
        other => other.clone(),
    }
}

fn tweak_text(rng: &mut Rng, s: &str, ctx: &Context) -> String {
    if let Some((a, b)) = s.split_once("..") {
        // A range: reversed, one end scaled, or the ends equal.
        return match rng.below(3) {
            0 => format!("{b}..{a}"),
            1 => format!("{a}..{}", tweak_text(rng, b, ctx)),
            _ => format!("{a}..{a}"),
        };
    }
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        let p = prefix.map(|p| {
            if rng.one_in(2) {
                rng.pick(&["0", "1", "8", "16", "30", "31", "32", "33"])
                    .to_string()
            } else {
                p.to_string()
            }
        });
        let a = tweak_addr(rng, a, ctx);
        return match p {
            Some(p) => format!("{a}/{p}"),
            None => a.to_string(),
        };
    }
    let digits = s.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        let (num, unit) = s.split_at(digits);
        if let Some((lo, hi)) = unit.strip_prefix('-').map(|hi| (num, hi)) {
            // A port range.
            return match rng.below(4) {
                0 => format!("{hi}-{lo}"),
                1 => format!("{lo}-65536"),
                2 => "0-65535".to_string(),
                _ => format!("{lo}-{lo}"),
            };
        }
        // A duration, size or rate: the number scaled, the unit kept.
        let n: u128 = num.parse().unwrap_or(1);
        let scaled = match rng.below(5) {
            0 => n.saturating_mul(10u128.pow(rng.below(16) as u32 + 1)),
            1 => 0,
            2 => 1,
            3 => u128::from(u64::MAX),
            _ => n.saturating_mul(1_000_000_000_000_000),
        };
        return format!("{scaled}{unit}");
    }
    odd_text(rng)
}

fn odd_text(rng: &mut Rng) -> String {
    match odd_value(rng) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// `a` made special: its /24's network or broadcast address, another
/// address of the scenario, or a non-unicast one.
fn tweak_addr(rng: &mut Rng, a: Ipv4Addr, ctx: &Context) -> Ipv4Addr {
    let [x, y, z, _] = a.octets();
    match rng.below(5) {
        0 => Ipv4Addr::new(x, y, z, *rng.pick(&[0, 255, 254, 1])),
        1 if !ctx.addrs.is_empty() => *rng.pick(&ctx.addrs),
        2 => *rng.pick(&[
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(239, 255, 255, 250),
            Ipv4Addr::new(240, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(0, 0, 0, 1),
            Ipv4Addr::new(169, 254, 1, 1),
        ]),
        3 => Ipv4Addr::new(x, y, z.wrapping_add(1), rng.below(256) as u8),
        _ => Ipv4Addr::new(x, y, rng.below(256) as u8, rng.below(256) as u8),
    }
}

/// A key of a table somewhere in the donor seed.
fn donor_entry(rng: &mut Rng, t: &Table, depth: usize) -> Option<(String, Value)> {
    let keys: Vec<&String> = t.keys().collect();
    if keys.is_empty() {
        return None;
    }
    let k = *rng.pick(&keys);
    match &t[k] {
        Value::Table(inner) if depth < 4 && rng.one_in(2) => donor_entry(rng, inner, depth + 1),
        Value::Array(xs) if depth < 4 && rng.one_in(2) => match xs.get(rng.below(xs.len())) {
            Some(Value::Table(inner)) => donor_entry(rng, inner, depth + 1),
            _ => Some((k.clone(), t[k].clone())),
        },
        v => Some((k.clone(), v.clone())),
    }
}

fn mutate_value(rng: &mut Rng, t: &mut Table, depth: usize, ctx: &Context) {
    if t.is_empty() {
        return;
    }
    let keys: Vec<String> = t.keys().cloned().collect();
    let k = rng.pick(&keys).clone();
    if let Some(donor) = &ctx.donor
        && rng.one_in(6)
        && let Some((dk, dv)) = donor_entry(rng, donor, 0)
    {
        t.insert(dk, dv);
        return;
    }
    let Some(v) = t.get_mut(&k) else { return };
    match v {
        Value::Table(inner) if depth < 4 && rng.below(4) != 0 => {
            mutate_value(rng, inner, depth + 1, ctx)
        }
        Value::Array(items) if depth < 4 && !items.is_empty() && rng.below(4) != 0 => {
            let i = rng.below(items.len());
            match &mut items[i] {
                Value::Table(inner) => mutate_value(rng, inner, depth + 1, ctx),
                other => *other = odd_value(rng),
            }
            if rng.one_in(5) {
                let copy = items[i].clone();
                items.push(copy);
            }
        }
        _ => {
            if rng.one_in(6) {
                t.remove(&k);
            } else if rng.one_in(2) {
                *v = tweak(rng, v, ctx);
            } else {
                *v = odd_value(rng);
            }
        }
    }
}
