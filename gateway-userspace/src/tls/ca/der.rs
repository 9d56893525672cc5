//! Just enough DER reading to sign as the CA in `ca.pem`: its subject name,
//! public key and key identifier. rcgen can read certificates back only
//! with its x509-parser feature, which would bring a second ASN.1 stack
//! for these three fields. The input is a root-owned file, not the network.

use rcgen::{
    DistinguishedName, DnType, DnValue,
    string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString},
};

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const T61_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const UNIVERSAL_STRING: u8 = 0x1c;
const BMP_STRING: u8 = 0x1e;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// 2.5.29.14, subjectKeyIdentifier.
const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const TRUNCATED: DerError = DerError("truncated DER");

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DerError(&'static str);

/// Fields of a certificate, each the complete DER element (tag and length
/// included) unless noted.
#[derive(Debug)]
pub struct CertFields<'a> {
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    pub spki: &'a [u8],
    /// The key identifier's bytes alone.
    pub subject_key_id: Option<&'a [u8]>,
}

struct Element<'a> {
    tag: u8,
    contents: &'a [u8],
    whole: &'a [u8],
}

/// Takes one element off the front of `input`. Single-byte tags and
/// definite lengths only, as DER certificates use.
fn next<'a>(input: &mut &'a [u8]) -> Result<Element<'a>, DerError> {
    let (&tag, rest) = input.split_first().ok_or(TRUNCATED)?;
    let (&first, rest) = rest.split_first().ok_or(TRUNCATED)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err(DerError("unsupported DER length"));
        }
        let (bytes, rest) = rest.split_at_checked(count).ok_or(TRUNCATED)?;
        let len = bytes
            .iter()
            .fold(0_usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    let header = input.len() - rest.len();
    let (contents, rest) = rest.split_at_checked(len).ok_or(TRUNCATED)?;
    let whole = &input[..header + len];
    *input = rest;
    Ok(Element {
        tag,
        contents,
        whole,
    })
}

fn expect<'a>(input: &mut &'a [u8], tag: u8, what: &'static str) -> Result<Element<'a>, DerError> {
    let element = next(input)?;
    if element.tag == tag {
        Ok(element)
    } else {
        Err(DerError(what))
    }
}

pub fn cert_fields(der: &[u8]) -> Result<CertFields<'_>, DerError> {
    let mut input = der;
    let mut cert = expect(&mut input, SEQUENCE, "not a certificate")?.contents;
    let mut tbs = expect(&mut cert, SEQUENCE, "no tbsCertificate")?.contents;
    if tbs.first() == Some(&VERSION) {
        next(&mut tbs)?;
    }
    expect(&mut tbs, INTEGER, "no serial number")?;
    expect(&mut tbs, SEQUENCE, "no signature algorithm")?;
    let issuer = expect(&mut tbs, SEQUENCE, "no issuer")?.whole;
    expect(&mut tbs, SEQUENCE, "no validity")?;
    let subject = expect(&mut tbs, SEQUENCE, "no subject")?.whole;
    let spki = expect(&mut tbs, SEQUENCE, "no subject public key")?.whole;
    let mut subject_key_id = None;
    // Then optional unique identifiers ([1], [2]) and extensions ([3]).
    while !tbs.is_empty() {
        let field = next(&mut tbs)?;
        if field.tag == EXTENSIONS {
            subject_key_id = find_subject_key_id(field.contents)?;
        }
    }
    Ok(CertFields {
        issuer,
        subject,
        spki,
        subject_key_id,
    })
}

fn find_subject_key_id(mut explicit: &[u8]) -> Result<Option<&[u8]>, DerError> {
    let mut extensions = expect(&mut explicit, SEQUENCE, "malformed extensions")?.contents;
    while !extensions.is_empty() {
        let mut extension = expect(&mut extensions, SEQUENCE, "malformed extension")?.contents;
        let oid = expect(&mut extension, OID, "malformed extension")?;
        if oid.contents != SUBJECT_KEY_ID {
            continue;
        }
        if extension.first() == Some(&BOOLEAN) {
            next(&mut extension)?;
        }
        let mut value = expect(&mut extension, OCTET_STRING, "malformed key identifier")?.contents;
        let id = expect(&mut value, OCTET_STRING, "malformed key identifier")?;
        return Ok(Some(id.contents));
    }
    Ok(None)
}

/// A `Name` (the complete element) as rcgen represents it. rcgen keeps one
/// value per attribute type; the caller checks the name round-trips.
pub fn distinguished_name(mut name: &[u8]) -> Result<DistinguishedName, DerError> {
    let mut rdns = expect(&mut name, SEQUENCE, "malformed name")?.contents;
    let mut dn = DistinguishedName::new();
    while !rdns.is_empty() {
        let mut rdn = expect(&mut rdns, SET, "malformed name")?.contents;
        let mut attribute = expect(&mut rdn, SEQUENCE, "malformed name")?.contents;
        if !rdn.is_empty() {
            return Err(DerError("multi-valued name attributes are not supported"));
        }
        let oid = expect(&mut attribute, OID, "malformed name")?;
        let value = next(&mut attribute)?;
        dn.push(
            DnType::from_oid(&oid_arcs(oid.contents)?),
            dn_value(&value)?,
        );
    }
    Ok(dn)
}

fn dn_value(value: &Element<'_>) -> Result<DnValue, DerError> {
    let unsupported = || DerError("unsupported string in name");
    let text = || std::str::from_utf8(value.contents).map_err(|_| unsupported());
    Ok(match value.tag {
        UTF8_STRING => DnValue::Utf8String(text()?.to_owned()),
        PRINTABLE_STRING => {
            DnValue::PrintableString(PrintableString::try_from(text()?).map_err(|_| unsupported())?)
        }
        IA5_STRING => DnValue::Ia5String(Ia5String::try_from(text()?).map_err(|_| unsupported())?),
        T61_STRING => {
            DnValue::TeletexString(TeletexString::try_from(text()?).map_err(|_| unsupported())?)
        }
        BMP_STRING => DnValue::BmpString(
            BmpString::from_utf16be(value.contents.to_vec()).map_err(|_| unsupported())?,
        ),
        UNIVERSAL_STRING => DnValue::UniversalString(
            UniversalString::from_utf32be(value.contents.to_vec()).map_err(|_| unsupported())?,
        ),
        _ => return Err(unsupported()),
    })
}

/// Decodes an OID's contents into its arcs.
fn oid_arcs(contents: &[u8]) -> Result<Vec<u64>, DerError> {
    let mut values = Vec::new();
    let mut value = 0_u64;
    for (i, &byte) in contents.iter().enumerate() {
        if value > u64::MAX >> 7 {
            return Err(DerError("OID arc too large"));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            values.push(value);
            value = 0;
        } else if i + 1 == contents.len() {
            return Err(DerError("truncated OID"));
        }
    }
    let (&first, rest) = values.split_first().ok_or(DerError("empty OID"))?;
    // The first value packs the first two arcs as 40 * a + b.
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    Ok([a, b].into_iter().chain(rest.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_oids() {
        // 2.5.4.3, commonName.
        assert_eq!(oid_arcs(&[0x55, 0x04, 0x03]), Ok(vec![2, 5, 4, 3]));
        // 1.2.840.10045.2.1, id-ecPublicKey: multi-byte arcs.
        assert_eq!(
            oid_arcs(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            Ok(vec![1, 2, 840, 10045, 2, 1])
        );
        assert!(oid_arcs(&[0x2a, 0x86]).is_err());
        assert!(oid_arcs(&[]).is_err());
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(cert_fields(&[]).is_err());
        assert!(cert_fields(&[0x30, 0x05, 0x30]).is_err());
        assert!(cert_fields(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
        assert!(cert_fields(&[0x30, 0x80]).is_err());
    }

    #[test]
    fn reads_a_long_form_length() {
        let mut input: &[u8] = &[0x04, 0x81, 0x02, 0xaa, 0xbb, 0xcc];
        let element = next(&mut input).unwrap();
        assert_eq!(element.contents, &[0xaa, 0xbb]);
        assert_eq!(element.whole.len(), 5);
        assert_eq!(input, &[0xcc]);
    }
}
