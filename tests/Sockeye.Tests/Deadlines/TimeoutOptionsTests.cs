using System.CommandLine;
using Sockeye.Cli.Commands;
using Sockeye.Timing;

namespace Sockeye.Tests.Deadlines;

public sealed class TimeoutOptionsTests
{
    [Theory]
    [InlineData("--idle-timeout", "3x")]
    [InlineData("--read-timeout", "fast")]
    [InlineData("--write-timeout", "-1s")]
    [InlineData("--max-read-buffer", "lots")]
    [InlineData("--max-write-buffer", "-5")]
    public void ServeEchoRefusesABadValueNamingTheOption(string option, string value)
    {
        var parse = ServeCommand.Create().Parse(["echo", option, value]);

        var error = Assert.Single(parse.Errors);
        Assert.StartsWith(option, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void ServeEchoMapsTimeoutsAndSizesOntoServerOptions()
    {
        var command = new Command("echo");
        var timeouts = new TimeoutOptions();
        timeouts.AddTo(command);
        var parse = command.Parse(["--idle-timeout", "30s", "--read-timeout", "500ms", "--write-timeout", "off", "--max-read-buffer", "64KiB", "--max-write-buffer", "0"]);
        Assert.Empty(parse.Errors);

        var options = new TcpServerOptions();
        timeouts.Apply(parse, options);

        Assert.Equal(TimeSpan.FromSeconds(30), options.IdleTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.ReadTimeout);
        Assert.Equal(TimeSpan.Zero, options.WriteTimeout);
        Assert.Equal(64 * 1024, options.MaxReadBufferSize);
        Assert.Null(options.MaxWriteBufferSize);
    }

    [Theory]
    [InlineData(nameof(TcpServerOptions.IdleTimeout))]
    [InlineData(nameof(TcpServerOptions.ReadTimeout))]
    [InlineData(nameof(TcpServerOptions.WriteTimeout))]
    [InlineData(nameof(TcpServerOptions.MaxReadBufferSize))]
    [InlineData(nameof(TcpServerOptions.MaxWriteBufferSize))]
    [InlineData(nameof(TcpServerOptions.TimeoutResolution))]
    [InlineData(nameof(TcpServerOptions.MinReceiveRate))]
    public void ServerRefusesAnOutOfRangeOptionNamingIt(string name)
    {
        var options = new TcpServerOptions();
        switch (name)
        {
            case nameof(TcpServerOptions.IdleTimeout): options.IdleTimeout = TimeSpan.FromSeconds(-1); break;
            case nameof(TcpServerOptions.ReadTimeout): options.ReadTimeout = TimeSpan.FromSeconds(-1); break;
            case nameof(TcpServerOptions.WriteTimeout): options.WriteTimeout = TimeSpan.FromSeconds(-1); break;
            case nameof(TcpServerOptions.MaxReadBufferSize): options.MaxReadBufferSize = 0; break;
            case nameof(TcpServerOptions.MaxWriteBufferSize): options.MaxWriteBufferSize = -1; break;
            case nameof(TcpServerOptions.TimeoutResolution): options.TimeoutResolution = TimeSpan.FromMilliseconds(1); break;
            case nameof(TcpServerOptions.MinReceiveRate): options.MinReceiveRate = new MinDataRate(0, TimeSpan.FromSeconds(1)); break;
        }

        var error = Assert.Throws<ArgumentException>(() => new TcpServer(options));
        Assert.Equal(name, error.ParamName);
    }

    [Theory]
    [InlineData(500, "500ms")]
    [InlineData(1500, "1500ms")]
    [InlineData(30_000, "30s")]
    [InlineData(120_000, "2m")]
    public void TimeoutMessagesSpellDurationsAsTheCliReadsThem(int milliseconds, string expected)
    {
        Assert.Equal(expected, DurationText.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }
}
