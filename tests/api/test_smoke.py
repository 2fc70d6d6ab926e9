from custom_components.sipthor.api import SipThorClient, create_ssl_context


async def test_identity(simulator, alice_credentials):
    context = create_ssl_context(alice_credentials, cafile=str(simulator.certs.server_ca))
    async with SipThorClient("alice@example.com", context, url=simulator.url) as client:
        identity = await client.get_identity()
    assert identity.sip_address == "alice@example.com"
