//! Receive-side RTP packet handling for [`crate::rtp_session`]:
//! RFC 3550 §5.1 header parsing (through the `rtp` crate, after checking
//! that it cannot panic on the input), §5.1 padding, RFC 8285 extension
//! bounds, and the Appendix A.1 sequence-number tracking behind the loss
//! count of §6.4.1 / A.3 (simplified: no probation; a jump of more than
//! 3000 restarts tracking).

use rtp::header::Header;
use webrtc_util::marshal::Unmarshal;

/// RTP fixed header size.
pub(crate) const HEADER_LEN: usize = 12;
/// RFC 3550 A.1 constants.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// RFC 3550 A.1 sequence state of the current remote SSRC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqState {
    pub(crate) ssrc: u32,
    base: u64,
    max_seq: u16,
    cycles: u64,
    received: u64,
}

impl SeqState {
    pub(crate) fn new(ssrc: u32, seq: u16) -> Self {
        SeqState { ssrc, base: u64::from(seq), max_seq: seq, cycles: 0, received: 1 }
    }

    pub(crate) fn lost(&self) -> u64 {
        let expected = self.cycles + u64::from(self.max_seq) + 1 - self.base;
        expected.saturating_sub(self.received)
    }

    /// Returns `false` when the sequence jumped so far that tracking restarts.
    pub(crate) fn update(&mut self, seq: u16) -> bool {
        let delta = seq.wrapping_sub(self.max_seq);
        if delta == 0 {
            return true; // duplicate (e.g. a retransmitted RFC 4733 end packet)
        }
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            return false;
        }
        self.received += 1; // in order, or a late packet earlier counted lost
        true
    }
}

/// Splits an RTP datagram into its header and payload without allocating
/// (unless it carries CSRCs or extensions). `None` for anything that is not
/// a well-formed RTP version 2 packet.
pub(crate) fn parse(datagram: &[u8]) -> Option<(Header, &[u8])> {
    let header_len = header_len(datagram)?;
    let header = Header::unmarshal(&mut &datagram[..header_len]).ok()?;
    let mut payload = &datagram[header_len..];
    if header.padding {
        let pad = usize::from(*payload.last()?);
        if pad == 0 || pad > payload.len() {
            return None;
        }
        payload = &payload[..payload.len() - pad];
    }
    Some((header, payload))
}

/// Length of the header (fixed part, CSRCs, extension), after checking the
/// version and that every RFC 8285 extension element stays inside its block
/// (the `rtp` crate would panic on an element running past the buffer).
fn header_len(d: &[u8]) -> Option<usize> {
    let first = *d.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let mut len = HEADER_LEN + 4 * usize::from(first & 0x0F);
    if first & 0x10 != 0 {
        let ext = d.get(len..len + 4)?;
        let profile = u16::from_be_bytes([ext[0], ext[1]]);
        let body_len = 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let body = d.get(len + 4..len + 4 + body_len)?;
        let mut i = 0;
        match profile {
            0xBEDE => {
                while i < body.len() {
                    let b = body[i];
                    if b == 0 {
                        i += 1;
                        continue;
                    }
                    if b >> 4 == 0x0F {
                        break;
                    }
                    i += 2 + usize::from(b & 0x0F);
                }
            }
            0x1000 => {
                while i < body.len() {
                    if body[i] == 0 {
                        i += 1;
                        continue;
                    }
                    i += 2 + usize::from(*body.get(i + 1)?);
                }
            }
            _ => {}
        }
        if i > body.len() {
            return None;
        }
        len += 4 + body_len;
    }
    (len <= d.len()).then_some(len)
}
