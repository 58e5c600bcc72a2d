namespace Sockeye.Security;

/// <summary>Why the server's edge checks turned a connection away before (or instead of) running its
/// handler; counted per reason by <see cref="TcpServer.GetRefusalCount(RefusalReason)"/>.</summary>
public enum RefusalReason
{
    /// <summary>The client's address is on <see cref="TcpServerOptions.DeniedSources"/>, or
    /// <see cref="TcpServerOptions.AllowedSources"/> is set and does not contain it.</summary>
    SourceDenied,

    /// <summary>The client already held <see cref="TcpServerOptions.MaxConnectionsPerIp"/> connections.</summary>
    MaxConnectionsPerIp,

    /// <summary>Connections arrived faster than <see cref="TcpServerOptions.AcceptRate"/> allows for the whole server.</summary>
    AcceptRate,

    /// <summary>Connections from one address arrived faster than <see cref="TcpServerOptions.AcceptRatePerIp"/> allows.</summary>
    AcceptRatePerIp,

    /// <summary>A PROXY protocol listener got a connection from an address outside
    /// <see cref="ProxyProtocolOptions.TrustedProxies"/>.</summary>
    UntrustedProxy,

    /// <summary>The PROXY protocol header was malformed, too long, or the connection ended before it was complete.</summary>
    ProxyHeaderInvalid,

    /// <summary>The PROXY protocol header did not arrive within <see cref="ProxyProtocolOptions.HeaderTimeout"/>.</summary>
    ProxyHeaderTimeout,

    /// <summary>The TLS handshake did not complete within <see cref="TlsOptions.HandshakeTimeout"/>.</summary>
    TlsHandshakeTimeout,

    /// <summary>The TLS handshake failed: no common protocol version or cipher, bytes that are not TLS,
    /// or the peer closed or reset during the handshake.</summary>
    TlsHandshakeFailed,

    /// <summary>The client asked for a server name (SNI) that no configured certificate serves and
    /// there is no default certificate.</summary>
    TlsUnknownServerName,

    /// <summary>The client's certificate was missing (when required) or rejected by
    /// <see cref="TlsOptions.ClientCertificateValidation"/>.</summary>
    TlsClientCertificateRejected,

    /// <summary><see cref="TlsOptions.MaxPendingHandshakes"/> TLS handshakes were already under way, so
    /// this connection was reset before its handshake started (a flood of stalled ClientHellos is held
    /// to that many handshakes' memory).</summary>
    TlsHandshakesPending,
}
