using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Sockeye.Diagnostics;

namespace Sockeye.Samples.Kv;

/// <summary>The admin port: <c>GET /metrics</c> (Prometheus text from OpenTelemetry's exporter: Sockeye's
/// server meter and the sample's own), <c>GET /healthz</c> (200 while the process runs) and
/// <c>GET /readyz</c> (200 while accepting, 503 while draining) — the endpoints of
/// <c>sockeye serve --metrics-port</c>, served by Kestrel.</summary>
internal sealed class KvAdmin : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MeterProvider _meters;

    private KvAdmin(WebApplication app, MeterProvider meters, int port)
    {
        _app = app;
        _meters = meters;
        Port = port;
    }

    /// <summary>The bound port.</summary>
    public int Port { get; }

    public static async Task<KvAdmin> StartAsync(IPAddress host, int port, Func<bool> isReady)
    {
        var meters = Sdk.CreateMeterProviderBuilder()
            .AddMeter(SockeyeMetrics.MeterName, KvServer.MeterName)
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)
            .Build();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "kv-admin" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxConcurrentConnections = 64;
            k.Listen(host, port);
        });
        var app = builder.Build();
        app.UseOpenTelemetryPrometheusScrapingEndpoint(meters, predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
        app.Run(context =>
        {
            var (status, body) = context.Request.Path.Value switch
            {
                "/healthz" => (200, "ok\n"),
                "/readyz" when isReady() => (200, "ready\n"),
                "/readyz" => (503, "draining\n"),
                _ => (404, "not found\n"),
            };
            context.Response.StatusCode = status;
            return context.Response.WriteAsync(body);
        });
        await app.StartAsync();
        var bound = app.Urls.Select(u => new Uri(u).Port).FirstOrDefault(port);
        return new KvAdmin(app, meters, bound);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _meters.Dispose();
    }
}
