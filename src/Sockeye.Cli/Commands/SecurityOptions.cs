using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net;
using Sockeye.Security;

namespace Sockeye.Cli.Commands;

/// <summary>
/// The edge-security options a serving command takes (TLS, PROXY protocol, per-address limits, accept
/// rates, allow and deny lists), and how they map onto <see cref="TcpServerOptions"/>. Defaults are
/// the library's: everything off.
/// </summary>
internal sealed class SecurityOptions
{
    public Option<string?> TlsCertificate { get; } = ExistingFile("--tls-cert", "Serve TLS with this certificate: a PEM file (chain after the leaf) or a .pfx/.p12 file");

    public Option<string?> TlsKey { get; } = ExistingFile("--tls-key", "The PEM private key for --tls-cert (omit when the key is in the certificate file or a PFX)");

    public Option<string?> TlsPassword { get; } = new("--tls-password") { Description = "Password of the PFX file or of an encrypted PEM key" };

    public Option<TimeSpan> TlsHandshakeTimeout { get; } = CliOptions.Duration("--tls-handshake-timeout", new TlsOptions().HandshakeTimeout,
        "Reset a client that has not completed the TLS handshake this long after connecting");

    public Option<int> TlsMaxHandshakes { get; } = CliOptions.AtLeast("--tls-max-handshakes", 0, new TlsOptions().MaxPendingHandshakes,
        "Most TLS handshakes under way at once; more connections are reset before their handshake (0 for no limit)");

    public Option<TimeSpan> TlsTrimInterval { get; } = CliOptions.Duration("--tls-trim-interval", new TlsOptions().NativeMemoryTrimInterval,
        "After failed TLS handshakes, give freed native memory back to the OS (malloc_trim) at most this often");

    public Option<TlsCipherPolicy> TlsCiphers { get; } = new("--tls-ciphers")
    {
        Description = "Which TLS cipher suites the server prefers: Default (OpenSSL's order, AES-256-GCM first) or Aes128First (AES-128-GCM first, as Go's crypto/tls)",
        DefaultValueFactory = _ => TlsCipherPolicy.Default,
    };

    public Option<bool> TlsNoResumption { get; } = new("--tls-no-resumption") { Description = "Refuse TLS session resumption (tickets, session IDs): every client does a full handshake" };

    public Option<bool> ProxyProtocol { get; } = new("--proxy-protocol") { Description = "Expect a PROXY protocol v1 or v2 header on every connection (behind HAProxy or a cloud load balancer); needs --trusted-proxies" };

    public Option<IPNetwork[]> TrustedProxies { get; } = Networks("--trusted-proxies", "Address ranges allowed to send PROXY headers, e.g. 127.0.0.0/8 10.0.0.0/8");

    public Option<int> MaxConnectionsPerIp { get; } = CliOptions.AtLeast("--max-connections-per-ip", 0, 0, "Most connections one client address may hold (0 for no limit)");

    public Option<int> AcceptRate { get; } = CliOptions.AtLeast("--accept-rate", 0, 0, "Most new connections a second for the whole server, with a one-second burst (0 for no limit)");

    public Option<int> AcceptRatePerIp { get; } = CliOptions.AtLeast("--accept-rate-per-ip", 0, 0, "Most new connections a second from one client address, with a one-second burst (0 for no limit)");

    public Option<IPNetwork[]> Allow { get; } = Networks("--allow", "Serve only clients in these address ranges");

    public Option<IPNetwork[]> Deny { get; } = Networks("--deny", "Refuse clients in these address ranges");

    /// <summary>Adds every option to <paramref name="command"/>, with the checks that span options.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { TlsCertificate, TlsKey, TlsPassword, TlsHandshakeTimeout, TlsMaxHandshakes, TlsTrimInterval, TlsCiphers, TlsNoResumption, ProxyProtocol, TrustedProxies, MaxConnectionsPerIp, AcceptRate, AcceptRatePerIp, Allow, Deny })
        {
            command.Options.Add(option);
        }

        command.Validators.Add(r =>
        {
            if (r.GetValue(ProxyProtocol) && (r.GetValue(TrustedProxies)?.Length ?? 0) == 0)
            {
                r.AddError("--proxy-protocol needs --trusted-proxies (the load balancers' address ranges)");
            }

            if (r.GetValue(TlsKey) is not null && r.GetValue(TlsCertificate) is null)
            {
                r.AddError("--tls-key needs --tls-cert");
            }
        });
    }

    /// <summary>Copies the parsed values onto <paramref name="options"/>.</summary>
    public void Apply(ParseResult parse, TcpServerOptions options)
    {
        if (parse.GetValue(TlsCertificate) is { } certificate)
        {
            var password = parse.GetValue(TlsPassword);
            var isPfx = certificate.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || certificate.EndsWith(".p12", StringComparison.OrdinalIgnoreCase);
            options.Tls = new TlsOptions
            {
                Certificate = isPfx ? Security.TlsCertificate.FromPfxFile(certificate, password) : Security.TlsCertificate.FromPemFiles(certificate, parse.GetValue(TlsKey), password),
                HandshakeTimeout = parse.GetValue(TlsHandshakeTimeout),
                MaxPendingHandshakes = parse.GetValue(TlsMaxHandshakes),
                NativeMemoryTrimInterval = parse.GetValue(TlsTrimInterval),
                CipherPolicy = parse.GetValue(TlsCiphers),
                AllowSessionResumption = !parse.GetValue(TlsNoResumption),
            };
        }

        if (parse.GetValue(ProxyProtocol))
        {
            options.ProxyProtocol = new ProxyProtocolOptions();
            foreach (var network in parse.GetValue(TrustedProxies) ?? [])
            {
                options.ProxyProtocol.TrustedProxies.Add(network);
            }
        }

        options.MaxConnectionsPerIp = parse.GetValue(MaxConnectionsPerIp);
        options.AcceptRate = parse.GetValue(AcceptRate) is > 0 and var rate ? new AcceptRateLimit(rate) : null;
        options.AcceptRatePerIp = parse.GetValue(AcceptRatePerIp) is > 0 and var perIp ? new AcceptRateLimit(perIp) : null;
        foreach (var network in parse.GetValue(Allow) ?? [])
        {
            options.AllowedSources.Add(network);
        }

        foreach (var network in parse.GetValue(Deny) ?? [])
        {
            options.DeniedSources.Add(network);
        }
    }

    private static Option<string?> ExistingFile(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(r =>
        {
            var path = r.GetValueOrDefault<string?>();
            if (path is not null && !File.Exists(path))
            {
                r.AddError($"{name}: file '{path}' does not exist");
            }
        });
        return option;
    }

    private static Option<IPNetwork[]> Networks(string name, string description) => new(name)
    {
        Description = $"{description} (CIDR; repeat the option or list several)",
        AllowMultipleArgumentsPerToken = true,
        CustomParser = r =>
        {
            var networks = new List<IPNetwork>();
            foreach (var token in r.Tokens)
            {
                if (IPNetwork.TryParse(token.Value, out var network))
                {
                    networks.Add(network);
                }
                else if (IPAddress.TryParse(token.Value, out var address))
                {
                    networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
                }
                else
                {
                    r.AddError($"{name}: '{token.Value}' is not an address range such as 10.0.0.0/8");
                }
            }

            return [.. networks];
        },
    };
}
