namespace Sockeye.Cli.Observability;

/// <summary>Where the admin port listens and the limits that keep it from hurting the data ports.</summary>
internal sealed record AdminEndpointOptions
{
    /// <summary>The default <see cref="MaxConnections"/>: a Prometheus server, a load balancer's health
    /// checks and an operator's curl, with room to spare.</summary>
    public const int DefaultMaxConnections = 16;

    /// <summary>The IP address (or <c>localhost</c>) to listen on.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The port; 0 lets the kernel choose (<see cref="AdminEndpoint.MetricsUrl"/> names it).</summary>
    public int Port { get; init; }

    /// <summary>Admin connections held at once; more are reset as they arrive and hold no descriptor.</summary>
    public int MaxConnections { get; init; } = DefaultMaxConnections;

    /// <summary>Descriptors kept free for the runtime: the data ports' <see cref="TcpServerOptions.DescriptorReserve"/>.</summary>
    public int DescriptorReserve { get; init; } = 64;

    /// <summary>How long a new connection may stay silent, and how long a request's line and headers may
    /// take from their first byte (a silent or trickling client is closed then): a scrape sends them in
    /// one packet.</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a keep-alive connection may sit idle between requests (Prometheus scrapes every
    /// 15 s or more and reconnects cheaply).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
