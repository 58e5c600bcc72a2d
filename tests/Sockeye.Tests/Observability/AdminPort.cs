using System.Net;
using System.Net.Sockets;
using Sockeye.Cli.Observability;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

/// <summary>Helpers for tests of the admin port: a free port, and a scrape read into samples.</summary>
internal static class AdminPort
{
    private static readonly HttpClient Http = new() { Timeout = Loopback.Patience };

    /// <summary>Starts an admin endpoint on a port the kernel chooses (read back from its URL).</summary>
    public static async Task<(AdminEndpoint Endpoint, int Port)> StartAsync(Func<bool> isReady, AdminEndpointOptions? options = null)
    {
        var endpoint = await AdminEndpoint.StartAsync(options ?? new AdminEndpointOptions(), isReady, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        return (endpoint, new Uri(endpoint.MetricsUrl).Port);
    }

    public static async Task<HttpStatusCode> GetStatusAsync(int port, string path)
    {
        using var response = await Http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        return response.StatusCode;
    }

    /// <summary>Scrapes <c>/metrics</c> and keeps the samples of the server listening on <paramref name="serverPort"/>.</summary>
    public static async Task<List<PrometheusSample>> ScrapeAsync(int port, int serverPort)
    {
        var text = await Http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        var portText = serverPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return PrometheusSample.Parse(text).Where(s => s.Labels.TryGetValue("server_port", out var p) && p == portText).ToList();
    }

    /// <summary>The value of the one sample named <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public static double Value(this List<PrometheusSample> samples, string name, params (string Key, string Value)[] labels)
    {
        var matches = samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
        Assert.True(matches.Count == 1, $"expected one sample {name} {string.Join(",", labels)}, found {matches.Count}: {string.Join("; ", samples.Select(s => s.Name))}");
        return matches[0].Value;
    }
}
