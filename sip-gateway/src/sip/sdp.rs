//! SDP offer/answer for audio calls (RFC 3264 §5, §6, §8.4; RFC 4566 for
//! the syntax, parsed by webrtc-rs's `sdp` crate). We speak G.711 µ-law and
//! A-law plus telephone-event (RFC 4733), answer in the offerer's codec
//! preference, and mirror the offer's direction for hold (§8.4).

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use media::codec::Codec;
use media::rtp_session::Direction;
use sdp::description::session::SessionDescription;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("no common codec (we support PCMU/8000 and PCMA/8000)")]
    NoCommonCodec,
}

/// The parts of a remote description we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// None when the stream is on hold by address (c=0.0.0.0, RFC 3264 §8.4)
    /// or rejected (port 0).
    pub address: Option<SocketAddr>,
    /// Offered payload types in preference order, with their codec if known.
    pub formats: Vec<(u8, Option<Codec>)>,
    pub telephone_event: Option<u8>,
    /// The remote side's direction attribute.
    pub direction: Direction,
}

/// Result of negotiation: what our RTP session uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
    pub remote: Option<SocketAddr>,
    /// Our direction (the mirror of the remote's).
    pub direction: Direction,
}

pub fn parse(body: &[u8]) -> Result<RemoteMedia, SdpError> {
    let sd = SessionDescription::unmarshal(&mut Cursor::new(body)).map_err(|e| SdpError::Malformed(e.to_string()))?;
    let md = sd.media_descriptions.iter().find(|m| m.media_name.media == "audio").ok_or(SdpError::NoAudio)?;
    let conn = md.connection_information.as_ref().or(sd.connection_information.as_ref());
    let ip: Option<IpAddr> = conn.and_then(|c| c.address.as_ref()).and_then(|a| a.address.split('/').next()?.parse().ok());
    let port = md.media_name.port.value;
    let address = match ip {
        Some(ip) if !ip.is_unspecified() && port > 0 && port <= 65535 => Some(SocketAddr::new(ip, port as u16)),
        _ => None,
    };
    let rtpmap = |pt: u8| -> Option<String> {
        md.attributes.iter().filter(|a| a.key == "rtpmap").find_map(|a| {
            let v = a.value.as_deref()?;
            let (p, name) = v.split_once(' ')?;
            (p.trim().parse::<u8>().ok()? == pt).then(|| name.trim().to_ascii_lowercase())
        })
    };
    let mut formats = Vec::new();
    let mut telephone_event = None;
    for f in &md.media_name.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let name = rtpmap(pt);
        let codec = match (pt, name.as_deref()) {
            (_, Some(n)) if n.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (_, Some(n)) if n.starts_with("pcma/8000") => Some(Codec::Pcma),
            (_, Some(n)) if n.starts_with("telephone-event/8000") => {
                telephone_event.get_or_insert(pt);
                None
            }
            (0, None) => Some(Codec::Pcmu),
            (8, None) => Some(Codec::Pcma),
            _ => None,
        };
        formats.push((pt, codec));
    }
    let dir_of = |attrs: &[sdp::description::common::Attribute]| {
        attrs.iter().find_map(|a| match a.key.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    };
    let mut direction = dir_of(&md.attributes).or_else(|| dir_of(&sd.attributes)).unwrap_or(Direction::SendRecv);
    if ip.is_some_and(|ip| ip.is_unspecified()) && direction == Direction::SendRecv {
        // RFC 2543-style hold: c=0.0.0.0 means "do not send to me".
        direction = Direction::SendOnly;
    }
    Ok(RemoteMedia { address, formats, telephone_event, direction })
}

fn mirror(d: Direction) -> Direction {
    match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        other => other,
    }
}

/// RFC 3264 §6.1: the first offered format we support wins.
pub fn negotiate(offer: &RemoteMedia) -> Result<Negotiated, SdpError> {
    let (payload_type, codec) = offer.formats.iter().find_map(|(pt, c)| c.map(|c| (*pt, c))).ok_or(SdpError::NoCommonCodec)?;
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: offer.telephone_event,
        remote: offer.address,
        direction: mirror(offer.direction),
    })
}

fn direction_attr(d: Direction) -> &'static str {
    match d {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
        Direction::Inactive => "inactive",
    }
}

fn rtpmap_name(c: Codec) -> &'static str {
    match c {
        Codec::Pcmu => "PCMU/8000",
        Codec::Pcma => "PCMA/8000",
    }
}

fn header(ip: IpAddr, session_id: u64, version: u64) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!("v=0\r\no=centralita {session_id} {version} IN {family} {ip}\r\ns=centralita\r\nc=IN {family} {ip}\r\nt=0 0\r\n")
}

/// Our answer to a negotiated offer.
pub fn answer(n: &Negotiated, ip: IpAddr, port: u16, session_id: u64, version: u64) -> String {
    let mut s = header(ip, session_id, version);
    let te = n.telephone_event.map(|pt| format!(" {pt}")).unwrap_or_default();
    s.push_str(&format!("m=audio {port} RTP/AVP {}{te}\r\n", n.payload_type));
    s.push_str(&format!("a=rtpmap:{} {}\r\n", n.payload_type, rtpmap_name(n.codec)));
    if let Some(pt) = n.telephone_event {
        s.push_str(&format!("a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"));
    }
    s.push_str(&format!("a=ptime:20\r\na={}\r\n", direction_attr(n.direction)));
    s
}

/// Our offer, for an INVITE that came without one (late offer, §13.2.1):
/// it goes in the 200 and the answer comes in the ACK.
pub fn offer(ip: IpAddr, port: u16, session_id: u64, version: u64) -> String {
    let mut s = header(ip, session_id, version);
    s.push_str(&format!("m=audio {port} RTP/AVP 0 8 101\r\n"));
    s.push_str("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(m: &str, extra: &str) -> String {
        format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{m}\r\n{extra}")
    }

    #[test]
    fn first_supported_offered_codec_wins() {
        let o = parse(sdp("m=audio 6000 RTP/AVP 9 8 0 101", "a=rtpmap:101 telephone-event/8000\r\n").as_bytes()).unwrap();
        let n = negotiate(&o).unwrap();
        assert_eq!((n.codec, n.payload_type, n.telephone_event), (Codec::Pcma, 8, Some(101)));
        assert_eq!(n.remote, Some("127.0.0.1:6000".parse().unwrap()));
        let a = answer(&n, "127.0.0.1".parse().unwrap(), 7000, 5, 5);
        assert!(a.contains("m=audio 7000 RTP/AVP 8 101\r\n") && a.contains("a=sendrecv"), "{a}");
    }

    #[test]
    fn dynamic_pcmu_and_no_common_codec() {
        let o = parse(sdp("m=audio 6000 RTP/AVP 96", "a=rtpmap:96 PCMU/8000\r\n").as_bytes()).unwrap();
        assert_eq!(negotiate(&o).unwrap().codec, Codec::Pcmu);
        let o = parse(sdp("m=audio 6000 RTP/AVP 9 18", "a=rtpmap:9 G722/8000\r\n").as_bytes()).unwrap();
        assert_eq!(negotiate(&o), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn hold_is_mirrored() {
        let o = parse(sdp("m=audio 6000 RTP/AVP 0", "a=sendonly\r\n").as_bytes()).unwrap();
        assert_eq!(negotiate(&o).unwrap().direction, Direction::RecvOnly);
        let o = parse(sdp("m=audio 6000 RTP/AVP 0", "a=inactive\r\n").as_bytes()).unwrap();
        assert_eq!(negotiate(&o).unwrap().direction, Direction::Inactive);
        let held = sdp("m=audio 6000 RTP/AVP 0", "").replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let o = parse(held.as_bytes()).unwrap();
        assert_eq!((o.address, negotiate(&o).unwrap().direction), (None, Direction::RecvOnly));
    }

    #[test]
    fn garbage_and_video_only_are_errors() {
        assert!(matches!(parse(b"hello"), Err(SdpError::Malformed(_))));
        assert_eq!(parse(sdp("m=video 6000 RTP/AVP 96", "").as_bytes()), Err(SdpError::NoAudio));
    }
}
