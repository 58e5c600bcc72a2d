namespace Sockeye.Security;

/// <summary>Whether a TLS listener asks clients for a certificate.</summary>
public enum ClientCertificateMode
{
    /// <summary>No client certificate is asked for.</summary>
    None,

    /// <summary>A certificate is asked for; a client without one is still served, a client with one
    /// must pass validation.</summary>
    Allow,

    /// <summary>A client without a valid certificate fails the handshake.</summary>
    Require,
}
