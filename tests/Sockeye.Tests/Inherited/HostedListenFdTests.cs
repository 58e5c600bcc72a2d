using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sockeye.Hosting;
using Sockeye.Tests.Hosting;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Inherited;

public class HostedListenFdTests
{
    [Fact]
    public async Task ConfiguredListenFdIsAcceptedOnInsteadOfHostAndPort()
    {
        using var owner = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        owner.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        owner.Listen();
        var fd = DescriptorNative.Duplicate((int)owner.SafeHandle.DangerousGetHandle());
        using var host = TestHost.Build(settings: new Dictionary<string, string?>
        {
            ["Sockeye:Listeners:echo:Protocol"] = "echo",
            ["Sockeye:Listeners:echo:Port"] = "1", // not bound: the descriptor wins
            ["Sockeye:Listeners:echo:ListenFd"] = fd.ToString(CultureInfo.InvariantCulture),
        });

        await host.StartAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(owner.LocalEndPoint, host.Listener("echo").LocalEndPoint);
        using var client = await Loopback.ConnectAsync(owner.LocalEndPoint!);
        await client.SendAllAsync("fd"u8.ToArray());
        Assert.Equal("fd"u8.ToArray(), await client.ReceiveExactlyAsync(2));
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task SystemdSocketThatSystemdDidNotPassStopsTheStartNamingTheKey()
    {
        using var host = TestHost.Build(settings: new Dictionary<string, string?>
        {
            ["Sockeye:Listeners:echo:Protocol"] = "echo",
            ["Sockeye:Listeners:echo:SystemdSocket"] = "web",
        });

        var ex = await Assert.ThrowsAsync<SockeyeConfigurationException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.Equal("Sockeye:Listeners:echo:SystemdSocket", ex.Key);
        Assert.Equal("Sockeye:Listeners:echo:SystemdSocket names the socket 'web', but systemd passed no sockets to this process (LISTEN_PID is unset or names another process)", ex.Message);
    }
}
