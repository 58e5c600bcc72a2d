using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Sockeye.Diagnostics;

namespace Sockeye.Cli.Observability;

/// <summary>
/// The admin port of <c>sockeye serve</c>: <c>GET /metrics</c> (Prometheus text, written by
/// OpenTelemetry's Prometheus exporter from the <see cref="SockeyeMetrics.MeterName"/> meter),
/// <c>GET /healthz</c> (200 while the process runs) and <c>GET /readyz</c> (200 while the server
/// accepts, 503 once it drains or has stopped, so a load balancer takes the instance out first).
/// </summary>
/// <remarks>
/// Kestrel serves HTTP over <see cref="AdminTransport"/>, a Sockeye server: at most
/// <see cref="AdminEndpointOptions.MaxConnections"/> connections (more are reset at once), descriptors
/// from the data ports' reserve, no spin on EMFILE. A request's line and headers must arrive within
/// <see cref="AdminEndpointOptions.HeaderTimeout"/> and an idle keep-alive connection is closed after
/// <see cref="AdminEndpointOptions.KeepAliveTimeout"/>. Before issue 23 two <see cref="HttpListener"/>s
/// served the port with none of this: 1,600 idle connections under a 1,500-descriptor limit took every
/// descriptor, spun the accept loop and aborted the runtime.
/// </remarks>
internal sealed class AdminEndpoint : IDisposable
{
    private readonly WebApplication _app;
    private readonly MeterProvider _meterProvider;

    private AdminEndpoint(WebApplication app, MeterProvider meterProvider, string metricsUrl)
    {
        _app = app;
        _meterProvider = meterProvider;
        MetricsUrl = metricsUrl;
    }

    /// <summary>The URL of the metrics page (with the bound port), for the startup line.</summary>
    public string MetricsUrl { get; }

    /// <summary>Starts listening as <paramref name="options"/> say; <paramref name="isReady"/> answers <c>/readyz</c>.</summary>
    /// <param name="options">Address, port, limits and deadlines.</param>
    /// <param name="isReady">Whether the server accepts (200 on /readyz) or not (503).</param>
    /// <param name="loggerFactory">Where Kestrel's warnings and the admin server's refusals go.</param>
    /// <param name="dependency">What else <c>/readyz</c> reports on (a line in its body, and perhaps
    /// a 503 of its own), or null.</param>
    /// <exception cref="IOException">The port cannot be bound (the message names it).</exception>
    public static async Task<AdminEndpoint> StartAsync(AdminEndpointOptions options, Func<bool> isReady, ILoggerFactory loggerFactory, Func<ReadinessLine>? dependency = null)
    {
        var address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
        var meterProvider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(SockeyeMetrics.MeterName)

            // Every scrape sees the counts of that moment (the default caches them for 300 ms).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)
            .Build();

        // The empty builder: no configuration files or environment variables (a user's appsettings.json
        // or ASPNETCORE_URLS must not move the admin port), no console logger of its own.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "sockeye-admin" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = options.MaxConnections;
            k.Limits.RequestHeadersTimeout = options.HeaderTimeout;
            k.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
            k.Limits.MaxRequestLineSize = 4 * 1024;
            k.Limits.MaxRequestHeadersTotalSize = 8 * 1024;
            k.Limits.MaxRequestHeaderCount = 32;
            k.Limits.MaxRequestBodySize = 1024;
            k.Listen(address, options.Port);
        });

        // Sockeye's transport instead of Kestrel's sockets (see AdminTransport for why).
        builder.Services.RemoveAll<IConnectionListenerFactory>();
        builder.Services.AddSingleton<IConnectionListenerFactory>(new AdminTransport(options.MaxConnections, options.DescriptorReserve, options.HeaderTimeout, loggerFactory));

        // The serve command owns SIGTERM and SIGINT: the admin port must keep answering /readyz with 503
        // through the drain, not stop on the first signal as the host's console lifetime would.
        builder.Services.AddSingleton<IHostLifetime, NoSignalsLifetime>();
        builder.Services.AddSingleton(loggerFactory);

        var app = builder.Build();
        app.UseOpenTelemetryPrometheusScrapingEndpoint(meterProvider, predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
        app.Run(context => AnswerAsync(context, isReady, dependency));
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            meterProvider.Dispose();
            throw new IOException($"cannot serve metrics on {options.Host}:{options.Port}: {ex.Message}", ex);
        }

        var port = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses
            .Select(a => new Uri(a).Port).FirstOrDefault() ?? options.Port;
        var host = options.Host.Contains(':', StringComparison.Ordinal) ? $"[{options.Host}]" : options.Host;
        return new AdminEndpoint(app, meterProvider, $"http://{host}:{port}/metrics");
    }

    public void Dispose()
    {
        try
        {
            _app.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
        }
        finally
        {
            _app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _meterProvider.Dispose();
        }
    }

    private static Task AnswerAsync(HttpContext context, Func<bool> isReady, Func<ReadinessLine>? dependency)
    {
        var (status, body) = context.Request.Path.Value?.TrimEnd('/') switch
        {
            "/healthz" => (200, "ok\n"),
            "/readyz" => Readiness(isReady(), dependency?.Invoke()),
            _ => (404, "not found\n"),
        };
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(body);
    }

    /// <summary>The <c>/readyz</c> answer: the verdict's line first (what a probe reads), then the
    /// dependency's state, which a human reads whether or not it decided the verdict.</summary>
    internal static (int Status, string Body) Readiness(bool listening, ReadinessLine? dependency)
    {
        var detail = dependency is null ? "" : dependency.Line + "\n";
        return (listening, dependency?.NotReady) switch
        {
            (false, _) => (503, "not ready: the server is draining or stopped\n" + detail),
            (true, { } reason) => (503, $"not ready: {reason}\n" + detail),
            _ => (200, "ready\n" + detail),
        };
    }

    /// <summary>A host lifetime that listens to no signal: the serve command stops the admin endpoint itself.</summary>
    private sealed class NoSignalsLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
