"""The router's Kafka security from settings: Faust credentials for aiokafka (SASL_SSL, SSL, SASL).

The kafka-python clients take ``Settings.kafka_client_options()`` as keyword
arguments; aiokafka under Faust wants an ``ssl.SSLContext`` and Faust's
credential objects instead. Both come from the same ``ZTC_KAFKA_*`` settings.
"""

from __future__ import annotations

import ssl

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from schemas.settings import Settings


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the brokers against ``ZTC_KAFKA_SSL_CAFILE`` (else the system's CAs), hostnames included."""
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile is not None else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
        context.load_cert_chain(str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile))
    return context


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's ``broker_credentials`` for the settings' protocol; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return SSLCredentials(kafka_ssl_context(settings))
    password = settings.kafka_sasl_password
    credentials = SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password is not None else None,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=kafka_ssl_context(settings) if protocol == "SASL_SSL" else None,
    )
    return credentials
