"""WeCom (企业微信) callback encryption: the signature check and AES decryption of its 加解密方案.

WeCom sends a callback's message encrypted, with ``msg_signature``,
``timestamp`` and ``nonce`` in the query string:

- ``msg_signature`` = SHA-1 (hex) of the four strings token, timestamp, nonce and
  the encrypted message, sorted and joined;
- the message is base64 of AES-256-CBC under ``AESKey = base64(EncodingAESKey + "=")``
  (43 characters → 32 bytes), IV the key's first 16 bytes, padded PKCS#7 to 32
  bytes; the plaintext is 16 random bytes, the message's length (4 bytes, network
  order), the message, and the receiver id (the corp id, or the robot's id).

URL verification (a GET with ``echostr``) is the same: check, decrypt, answer the
plaintext. Pure functions; ``cryptography`` does the AES.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
"""WeCom pads to 32 bytes, not AES's 16."""


class WeComCryptoError(ValueError):
    """A callback that is not WeCom's under our token and key (bad signature, key or padding)."""


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise WeComCryptoError("EncodingAESKey is not base64") from None
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise WeComCryptoError("EncodingAESKey must be 43 characters (32 bytes)")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def check_signature(token: str, timestamp: str, nonce: str, encrypted: str, msg_signature: str) -> None:
    if not hmac.compare_digest(signature(token, timestamp, nonce, encrypted), msg_signature.lower()):
        raise WeComCryptoError("签名不符 msg_signature does not match")


def decrypt(encoding_aes_key: str, encrypted: str, receive_id: str | None = None) -> str:
    """The plaintext message; ``receive_id`` given: it must be the one WeCom appended."""
    key = aes_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except binascii.Error:
        raise WeComCryptoError("encrypted message is not base64") from None
    if not raw or len(raw) % 16:
        raise WeComCryptoError("encrypted message is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise WeComCryptoError("bad padding: another key")
    plain = padded[:-pad]
    if len(plain) < 20:
        raise WeComCryptoError("message too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, receiver = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length:
        raise WeComCryptoError("message length does not match")
    if receive_id and receiver.decode(errors="replace") != receive_id:
        raise WeComCryptoError("receiver id does not match")
    try:
        return message.decode()
    except UnicodeDecodeError:
        raise WeComCryptoError("message is not UTF-8") from None


def encrypt(encoding_aes_key: str, message: str, receive_id: str, random16: bytes | None = None) -> str:
    """What WeCom sends (for tests, and for an encrypted reply): base64 of the padded AES-CBC ciphertext."""
    key = aes_key(encoding_aes_key)
    body = message.encode()
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + receive_id.encode()
    pad = BLOCK - len(plain) % BLOCK
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()
