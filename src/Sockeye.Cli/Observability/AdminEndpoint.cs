using System.Net;
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
/// <remarks>Two <see cref="HttpListener"/>s share the port: the exporter's, on <c>/metrics/</c>, and
/// ours, on <c>/healthz/</c> and <c>/readyz/</c>; the runtime's managed listener routes each request
/// to the listener with the longest matching prefix.</remarks>
internal sealed class AdminEndpoint : IDisposable
{
    private readonly MeterProvider _meterProvider;
    private readonly HttpListener _health = new();
    private readonly Func<bool> _isReady;
    private readonly Task _serving;

    private AdminEndpoint(string host, int port, Func<bool> isReady)
    {
        _isReady = isReady;
        var listenerHost = host is "0.0.0.0" or "::" or "*" ? "*" : host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
        _meterProvider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(SockeyeMetrics.MeterName)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = listenerHost;
                o.Port = port;
                o.ScrapeEndpointPath = "/metrics";

                // Every scrape sees the counts of that moment (the default caches them for 300 ms).
                o.ScrapeResponseCacheDurationMilliseconds = 0;
            })
            .Build();
        try
        {
            _health.Prefixes.Add($"http://{listenerHost}:{port}/healthz/");
            _health.Prefixes.Add($"http://{listenerHost}:{port}/readyz/");
            _health.Start();
        }
        catch
        {
            _meterProvider.Dispose();
            throw;
        }

        _serving = ServeHealthAsync();
    }

    /// <summary>The URL of the metrics page, for the startup line.</summary>
    public string MetricsUrl { get; private init; } = "";

    /// <summary>Starts listening on <paramref name="host"/>:<paramref name="port"/>;
    /// <paramref name="isReady"/> answers <c>/readyz</c>.</summary>
    /// <exception cref="IOException">The port cannot be bound (the message names it).</exception>
    public static AdminEndpoint Start(string host, int port, Func<bool> isReady)
    {
        try
        {
            return new AdminEndpoint(host, port, isReady) { MetricsUrl = $"http://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{port}/metrics" };
        }
        catch (Exception ex) when (ex is HttpListenerException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            throw new IOException($"cannot serve metrics on {host}:{port}: {ex.Message}", ex);
        }
    }

    public void Dispose()
    {
        _health.Close();
        _meterProvider.Dispose();
        try
        {
            _serving.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task ServeHealthAsync()
    {
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await _health.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // closed
            }

            var path = context.Request.Url?.AbsolutePath.TrimEnd('/') ?? "";
            var (status, body) = path switch
            {
                "/healthz" => (200, "ok\n"),
                "/readyz" when _isReady() => (200, "ready\n"),
                "/readyz" => (503, "not ready: the server is draining or stopped\n"),
                _ => (404, "not found\n"),
            };
            try
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes(body);
                context.Response.StatusCode = status;
                context.Response.ContentType = "text/plain; charset=utf-8";
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The prober went away mid-answer: nothing to do.
            }
        }
    }
}
