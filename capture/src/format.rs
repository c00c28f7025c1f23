//! The on-disk constants of both containers, shared by the writer and the
//! reader so that each magic number, block type and option code is spelt once.
//!
//! Sources: the libpcap file format (pcap-savefile(5)) and the pcapng
//! specification (IETF draft-ietf-opsawg-pcapng).

/// Classic pcap magic for microsecond timestamps.
pub const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Classic pcap magic for nanosecond timestamps.
pub const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// The only classic pcap version written since 1998.
pub const PCAP_VERSION: (u16, u16) = (2, 4);
/// Size of the classic pcap file header.
pub const PCAP_FILE_HEADER: usize = 24;
/// Size of a classic pcap record header.
pub const PCAP_RECORD_HEADER: usize = 16;

/// pcapng block types.
pub mod block {
    /// Section Header Block; also the file's magic. A byte palindrome, so it
    /// reads the same in both byte orders.
    pub const SHB: u32 = 0x0a0d_0d0a;
    /// Interface Description Block.
    pub const IDB: u32 = 0x0000_0001;
    /// Obsolete Packet Block (old Wireshark versions).
    pub const OPB: u32 = 0x0000_0002;
    /// Simple Packet Block.
    pub const SPB: u32 = 0x0000_0003;
    /// Enhanced Packet Block.
    pub const EPB: u32 = 0x0000_0006;
    /// Byte-order magic inside the SHB.
    pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
}

/// pcapng option codes.
pub mod opt {
    /// `opt_endofopt`.
    pub const END: u16 = 0;
    /// `opt_comment` (any block): UTF-8 text, shown by tshark as `frame.comment`.
    pub const COMMENT: u16 = 1;
    /// `shb_userappl`: the application that wrote the section.
    pub const SHB_USERAPPL: u16 = 4;
    /// `if_tsresol`: timestamp resolution of the interface.
    pub const IF_TSRESOL: u16 = 9;
    /// `if_tsoffset`: seconds added to every timestamp of the interface.
    pub const IF_TSOFFSET: u16 = 14;
}

/// `len` rounded up to a multiple of 4: pcapng aligns every field to 32 bits.
pub const fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// Integers in a capture's own byte order (a pcap file's, or a pcapng
/// section's, as its magic or byte-order mark says). Callers pass slices at
/// least as long as the integer; the reader checks lengths first.
pub(crate) mod order {
    #[inline]
    pub(crate) fn u16(big_endian: bool, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    #[inline]
    pub(crate) fn u32(big_endian: bool, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    #[inline]
    pub(crate) fn i64(big_endian: bool, b: &[u8]) -> i64 {
        let b = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        if big_endian {
            i64::from_be_bytes(b)
        } else {
            i64::from_le_bytes(b)
        }
    }
}
