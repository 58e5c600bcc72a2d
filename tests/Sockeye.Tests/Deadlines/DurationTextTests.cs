using System.Globalization;
using CsCheck;
using Sockeye.Tests.Support;
using Sockeye.Timing;

namespace Sockeye.Tests.Deadlines;

/// <summary>One rule for every duration, in flags, configuration and options: not negative, at most
/// <see cref="DurationText.Maximum"/>, and the parser never throws.</summary>
public sealed class DurationTextTests
{
    // Numbers with and without units, TimeSpan's own forms over the whole tick range, and the inputs
    // an adversarial probe found.
    private static readonly Gen<string> WellFormed = Gen.OneOf(
        Gen.Select(Gen.Double, Gen.OneOf("ms", "s", "m", "h", "d", ""), (n, unit) => n.ToString("R", CultureInfo.InvariantCulture) + unit),
        Gen.Select(Gen.Double[0, 1e7], Gen.OneOf("ms", "s", "m", "h", "d"), (n, unit) => n.ToString("0.###", CultureInfo.InvariantCulture) + unit),
        Gen.Long.Select(ticks => new TimeSpan(ticks).ToString("c", CultureInfo.InvariantCulture)),
        Gen.Long[0, DurationText.Maximum.Ticks].Select(ticks => new TimeSpan(ticks).ToString("g", CultureInfo.InvariantCulture)),
        Gen.OneOf("nans", "NaNs", "infinitys", "-infinityms", "-00:00:01", "10675199.02:48:05", "-1s", "1e3s", "30", "0", "off", " 5s ", "5 s", ".s", "1..5s", "∞s"));

    [Fact]
    public void TheParserNeverThrowsAndEveryAcceptedValueObeysTheRuleAndRoundTrips()
    {
        Gen.OneOf(Gen.String, WellFormed).Sample(text =>
        {
            if (DurationText.TryParse(text, out var value, out var error))
            {
                Assert.InRange(value, TimeSpan.Zero, DurationText.Maximum);
                Assert.True(DurationText.TryParse(DurationText.Format(value), out var again, out _), $"'{DurationText.Format(value)}' does not read back");
                Assert.Equal(value, again);
            }
            else
            {
                Assert.False(string.IsNullOrWhiteSpace(error));
                Assert.DoesNotContain('\n', error);
            }
        }, iter: 20_000);
    }

    [Theory]
    [InlineData("nans", "is not a duration")]
    [InlineData("infinitys", "is not a duration")]
    [InlineData("-00:00:01", "is negative")]
    [InlineData("-1s", "is not a duration")]
    [InlineData("10675199.02:48:05", "is longer than the longest duration allowed, 30d")]
    [InlineData("31d", "is longer than the longest duration allowed, 30d")]
    [InlineData("99999999999999999999h", "is longer than the longest duration allowed, 30d")]
    public void ABadDurationIsRefusedWithAReason(string text, string reason)
    {
        Assert.False(DurationText.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Contains(text, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("30d", 30 * 86_400_000d)]
    [InlineData("30.00:00:00", 30 * 86_400_000d)]
    [InlineData("1.5h", 5_400_000d)]
    [InlineData("250ms", 250d)]
    public void TheLongestAllowedAndOrdinaryValuesAreRead(string text, double milliseconds)
    {
        Assert.True(DurationText.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData(nameof(TcpServerOptions.IdleTimeout))]
    [InlineData(nameof(TcpServerOptions.ReadTimeout))]
    [InlineData(nameof(TcpServerOptions.WriteTimeout))]
    [InlineData(nameof(TcpServerOptions.KeepAlive))]
    [InlineData(nameof(TcpServerOptions.Tls))]
    [InlineData(nameof(TcpServerOptions.ProxyProtocol))]
    public void ServerOptionsRefuseADurationPastTheLongestAllowedNamingIt(string name)
    {
        var tooLong = DurationText.Maximum + TimeSpan.FromSeconds(1);
        var options = new TcpServerOptions();
        switch (name)
        {
            case nameof(TcpServerOptions.IdleTimeout): options.IdleTimeout = tooLong; break;
            case nameof(TcpServerOptions.ReadTimeout): options.ReadTimeout = tooLong; break;
            case nameof(TcpServerOptions.WriteTimeout): options.WriteTimeout = tooLong; break;
            case nameof(TcpServerOptions.KeepAlive): options.KeepAlive = tooLong; break;
            case nameof(TcpServerOptions.Tls):
                options.Tls = new global::Sockeye.Security.TlsOptions { Certificate = global::Sockeye.Security.TlsCertificate.FromCertificate(Security.TestCertificates.Create("localhost")), HandshakeTimeout = tooLong };
                break;
            case nameof(TcpServerOptions.ProxyProtocol): options.ProxyProtocol = new global::Sockeye.Security.ProxyProtocolOptions { HeaderTimeout = tooLong }; break;
        }

        var error = Assert.Throws<ArgumentException>(() => new TcpServer(options));
        Assert.Equal(name, error.ParamName);
        Assert.Contains("30d", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve echo --idle-timeout nans", "--idle-timeout: 'nans' is not a duration")]
    [InlineData("serve echo --idle-timeout -00:00:01", "--idle-timeout: '-00:00:01' is negative")]
    [InlineData("serve echo --tls-handshake-timeout 10675199.02:48:05", "--tls-handshake-timeout: '10675199.02:48:05' is longer than the longest duration allowed, 30d")]
    [InlineData("serve udp-echo --drain-timeout 1e9s", "--drain-timeout: '1e9s' is not a duration")]
    public async Task TheCliRefusesABadDurationInOneLineWithExitCode2(string arguments, string message)
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"sockeye: error: {message}", line, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("\"DrainTimeout\": \"10675199.02:48:05\"", "Sockeye:DrainTimeout must be at most 30d, got '10675199.02:48:05'")]
    [InlineData("\"DrainTimeout\": \"-00:00:05\"", "Sockeye:DrainTimeout must not be negative, got '-00:00:05'")]
    [InlineData("\"Listeners\": { \"echo\": { \"Protocol\": \"echo\", \"IdleTimeout\": \"nans\" } }", "Sockeye:Listeners:echo:IdleTimeout is not a duration")]
    public async Task ABadDurationInTheConfigurationIsReportedByItsKeyWithExitCode2(string sockeyeSection, string message)
    {
        var folder = Directory.CreateTempSubdirectory("sockeye-durations-").FullName;
        var config = Path.Combine(folder, "sockeye.json");
        var listeners = sockeyeSection.Contains("Listeners", StringComparison.Ordinal) ? "" : ", \"Listeners\": { \"echo\": { \"Protocol\": \"echo\", \"Port\": 0 } }";
        await File.WriteAllTextAsync(config, $"{{ \"Sockeye\": {{ {sockeyeSection}{listeners} }} }}");

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync($"serve --config {config}");

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"sockeye: error: {message}", line, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }
}
